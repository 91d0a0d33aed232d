//! The real load binary on the Runtime API emulator, against moto (S3, SSM) and fakesnow:
//! `ValidateInput` → `CheckFiles` → `LoadFile` (one per declared file) with the payloads the state
//! machine sends, and the errors the ASL matches on.

#[path = "../../aws/tests/support/mod.rs"]
mod moto;
#[path = "../../snowflake/tests/support/mod.rs"]
mod snow;
#[path = "../../lambda/tests/support/warehouse_env.rs"]
mod warehouse_env;

use landfall_core::warehouse::Warehouse;
use serde_json::json;
use warehouse_env::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_validates_checks_and_copies_both_generated_files() {
    validates_checks_and_copies(WarehouseEnv::start("LOAD_LAMBDA", "2026-11-26").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real export in ../shared/data/netflix: run by `make conformance`"]
async fn load_validates_checks_and_copies_the_real_export() {
    validates_checks_and_copies(WarehouseEnv::start_real("LOAD_LAMBDA", "2026-11-26").await).await;
}

async fn validates_checks_and_copies(env: WarehouseEnv) {
    let input = json!({"bucket": BUCKET, "batch": "2026-11-26", "full_refresh": false});
    let bin = env!("CARGO_BIN_EXE_load");
    let a = env.invoke(
        bin,
        vec![
            json!({"action": "validate", "input": input, "execution": "2026-11-26-abc", "started": "2026-11-26T10:00:00.250Z"}),
            json!({"action": "validate", "input": {"bucket": BUCKET, "batch": "../etc"}, "execution": "x"}),
            json!({"action": "validate", "input": {"bucket": "someone-elses", "batch": "b"}, "execution": "x"}),
        ],
        &[],
    );
    let run = ok(&a[0]);
    assert_eq!(
        run,
        json!({"run_id": "2026-11-26-abc", "batch": "2026-11-26", "full_refresh": false, "bucket": BUCKET,
               "started_at": "2026-11-26T10:00:00.250Z"}),
        "the run carries the execution's start time to every state"
    );
    let (t, body) = err(&a[1]);
    assert_eq!(t, "Landfall.BadInput", "{body}");
    assert!(body.contains("not a valid batch id"), "{body}");
    let (t, body) = err(&a[2]);
    assert_eq!(t, "Landfall.BadInput", "{body}");
    assert!(body.contains("this deployment loads from 'landfall-landing'"), "{body}");

    let (a, logs) = env.invoke_with_logs(bin, vec![json!({"action": "check", "run": run})], &[]);
    let files = ok(&a[0]);
    // JSON logs, every line of the invocation naming the execution and the batch.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "the function logged nothing");
    for l in &lines {
        if l.get("_aws").is_some() {
            // The EMF metrics line carries them as properties.
            assert_eq!(l["execution"], json!("2026-11-26-abc"), "{l}");
            assert_eq!(l["batch"], json!("2026-11-26"), "{l}");
            continue;
        }
        assert_eq!(l["span"]["execution"], json!("2026-11-26-abc"), "{l}");
        assert_eq!(l["span"]["batch"], json!("2026-11-26"), "{l}");
        assert_eq!(l["span"]["function"], json!("load"), "{l}");
    }
    assert_eq!(
        files["files"][0]["object"]["url"],
        json!(format!("s3://{BUCKET}/landing/2026-11-26/titles.csv"))
    );
    assert!(
        files["files"][1]["object"]["etag"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    let (a, logs) = env.invoke_polled(
        bin,
        vec![
            json!({"action": "load", "file": "titles", "run": run, "object": files["files"][0]["object"], "step": "LoadFile", "retry": 0}),
            json!({"action": "load", "file": "credits", "run": run, "object": files["files"][1]["object"], "step": "LoadFile", "retry": 2}),
        ],
        &[],
    );
    assert_eq!(ok(&a[0])["rows"], json!(env.data.titles));
    assert_eq!(ok(&a[1])["rows"], json!(env.data.credits));
    // One CloudWatch EMF line per invocation, with the numbers of the answer.
    let emf: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 2, "{logs}");
    for (line, (state, rows, retries)) in emf.iter().zip([
        ("LoadFile[titles]", env.data.titles as f64, 0.0),
        ("LoadFile[credits]", env.data.credits as f64, 2.0),
    ]) {
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], json!("Landfall"));
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["environment", "state"]])
        );
        assert_eq!(line["environment"], json!("test"));
        assert_eq!(line["state"], json!(state));
        assert_eq!(line["RowsLoaded"], json!(rows));
        assert_eq!(line["Retries"], json!(retries));
        assert_eq!(line["Failed"], json!(0.0));
        assert!(line["Duration"].as_f64().unwrap() > 0.0);
    }
    let wh = env.warehouse().await;
    let t = wh
        .query("select _source_file, count(*) from raw.credits where _load_id = '2026-11-26-abc' group by 1")
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 1);
    assert_eq!(
        t.rows[0][0],
        json!(format!("s3://{BUCKET}/landing/2026-11-26/credits.csv"))
    );
    let loads = wh
        .query("select count(*) from audit.loads where run_id = '2026-11-26-abc'")
        .await
        .unwrap();
    assert_eq!(loads.scalar_i64(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ssm_parameter_is_config_naming_it_and_no_secret_leaks() {
    let env = WarehouseEnv::start("LOAD_NO_SSM", "b1").await;
    let bin = env!("CARGO_BIN_EXE_load");
    let event = json!({"action": "validate", "input": {"bucket": BUCKET, "batch": "b1"}, "execution": "b1-x"});
    let a = env.invoke(
        bin,
        vec![event.clone()],
        &[("LANDFALL_SSM_PREFIX", "/landfall/elsewhere/")],
    );
    let (t, body) = err(&a[0]);
    assert_eq!(t, "Landfall.Config");
    assert!(body.contains("/landfall/elsewhere/snowflake/private_key"), "{body}");
    assert!(!body.contains("fakesnow-accepts-any-password"));
    // A required setting missing from the environment is Config too, naming the variable.
    let a = env.invoke(bin, vec![event], &[("SNOWFLAKE_DATABASE", "")]);
    let (t, body) = err(&a[0]);
    assert_eq!(t, "Landfall.Config");
    assert!(body.contains("SNOWFLAKE_DATABASE"), "{body}");
}

/// A real RSA key pair's private half (PKCS#8 PEM), from the system's openssl.
fn private_key_pem() -> String {
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("openssl is needed to make a key pair for the key-pair login test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_read_again_from_ssm_and_key_pair_login_works() {
    let env = WarehouseEnv::start("LOAD_KEYPAIR", "b1").await;
    let ssm = aws_sdk_ssm::Client::new(&env.sdk);
    let put = |value: String| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name("/landfall/test/snowflake/private_key")
                .value(value)
                .overwrite(true)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        }
    };
    put("-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LXNlY3JldA==\n-----END PRIVATE KEY-----\n".into()).await;
    let event = json!({"action": "validate", "input": {"bucket": BUCKET, "batch": "b1"}, "execution": "b1-k"});
    // One Lambda process, two invocations; the key is rotated in SSM between them.
    let api = landfall_lambda::emulator::RuntimeApi::start(vec![event.to_string()]);
    let vars = env.lambda_env();
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut child = api.spawn(env!("CARGO_BIN_EXE_load"), &refs);
    let first = api.wait_answers(1, std::time::Duration::from_secs(60));
    let (t, body) = err(&first[0]);
    assert_eq!(t, "Landfall.Config", "{body}");
    assert!(body.contains("credentials were refused"), "{body}");
    assert!(
        !body.contains("bm90LWEta2V5LXNlY3JldA"),
        "the key never reaches an error: {body}"
    );
    put(private_key_pem()).await;
    api.push(event.to_string());
    let both = api.wait_answers(2, std::time::Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        ok(&both[1])["batch"],
        json!("b1"),
        "the second invocation read the new key and logged in with it"
    );
}
