//! moto server for tests: started on a free port of 127.0.0.1, killed and reaped on drop.
#![allow(dead_code)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::process::{Child, Command};
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub async fn start() -> Moto {
        let bin = std::env::var("LANDFALL_MOTO_SERVER").unwrap_or_else(|_| {
            format!(
                "{}/.cache/landfall/venv-tools/bin/moto_server",
                std::env::var("HOME").unwrap()
            )
        });
        assert!(
            std::path::Path::new(&bin).is_file(),
            "moto_server not found at {bin}: run `make test` or set LANDFALL_MOTO_SERVER"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..150 {
            if http.get(format!("{}/moto-api/", moto.url)).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start on {}", moto.url);
    }

    /// One SQS call in its JSON protocol (tests read queues without an SQS SDK crate in the
    /// build): `target` is the operation (`CreateQueue`, `ReceiveMessage`, …).
    pub async fn sqs(&self, target: &str, body: serde_json::Value) -> serde_json::Value {
        reqwest::Client::new()
            .post(&self.url)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", format!("AmazonSQS.{target}"))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(serde_json::Value::Null)
    }

    pub async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .load()
            .await
    }
}
