//! The events AWS delivers to the trigger and the notify Lambdas, parsed with the
//! `aws_lambda_events` types (the crate has the envelopes; the two `detail` shapes it lacks are
//! defined here): what the pipeline needs of them, and nothing else.
//!
//! The trigger is wired one of three ways, and accepts all three (the template picks one):
//! - EventBridge "Object Created" (S3 → EventBridge → rule → trigger), the default;
//! - S3 event notifications invoking the function (`Records[]` with `eventSource` `aws:s3`);
//! - S3 event notifications through SQS (`Records[]` with `eventSource` `aws:sqs`, each body an
//!   S3 notification, or the `s3:TestEvent` S3 sends when the notification is configured).
//!
//! Keys in S3 notifications are URL-encoded as a form is (`+` for a space, `%2F`, …): they are
//! decoded here, once, for all three.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use landfall_core::PipelineError;
use landfall_core::alerts::truncate;
use landfall_core::trigger::ObjectCreated;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `detail` of EventBridge's "Object Created" event from S3 (only what the trigger reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct S3ObjectDetail {
    pub bucket: S3ObjectBucket,
    pub object: S3ObjectKey,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct S3ObjectBucket {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct S3ObjectKey {
    pub key: String,
    #[serde(default)]
    pub etag: Option<String>,
}

/// What one invocation of the trigger brought.
#[derive(Debug)]
pub enum TriggerDelivery {
    /// EventBridge or an S3 notification: the invocation succeeds or fails as a whole (an
    /// asynchronous invocation, retried by Lambda).
    Direct(Created),
    /// A batch of SQS messages, each reported on its own (`batchItemFailures`).
    Queue(Vec<Message>),
}

/// The created objects of one delivery, and what was in it but is not for the trigger.
#[derive(Debug, Default)]
pub struct Created {
    pub objects: Vec<ObjectCreated>,
    /// Why a record was passed over (a test event, another event type).
    pub ignored: Vec<String>,
}

/// One SQS message: its id (what `batchItemFailures` names) and its body, parsed.
#[derive(Debug)]
pub struct Message {
    pub message_id: String,
    pub created: Result<Created, PipelineError>,
}

/// Decode a key as S3 notifications encode it (`application/x-www-form-urlencoded`).
pub fn decode_key(key: &str) -> String {
    let plus = key.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .unwrap_or(plus)
}

fn bad(what: &str, event: &Value) -> PipelineError {
    PipelineError::bad_input(format!("not {what}: {}", truncate(&event.to_string(), 300)))
}

/// [`bad`], with why the event did not parse.
fn unparsed(what: &str, event: &Value, why: impl std::fmt::Display) -> PipelineError {
    PipelineError::bad_input(format!("{}: {why}", bad(what, event).message))
}

/// The S3 notification records (`Records[]`), or the test event S3 sends first.
fn from_s3_notification(event: Value) -> Result<Created, PipelineError> {
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Created {
            objects: vec![],
            ignored: vec!["s3:TestEvent (sent when a bucket notification is configured)".into()],
        });
    }
    let parsed: S3Event =
        serde_json::from_value(event.clone()).map_err(|e| unparsed("an S3 event notification", &event, e))?;
    let mut created = Created::default();
    for r in parsed.records {
        let name = r.event_name.unwrap_or_default();
        // S3 names them `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, …
        if !name.starts_with("ObjectCreated:") {
            created.ignored.push(format!("{name} is not an ObjectCreated event"));
            continue;
        }
        let (Some(bucket), Some(key)) = (r.s3.bucket.name, r.s3.object.key) else {
            return Err(bad("an S3 record with a bucket name and an object key", &event));
        };
        created.objects.push(ObjectCreated {
            bucket,
            key: decode_key(&key),
        });
    }
    Ok(created)
}

/// Parse whatever the trigger was invoked with.
pub fn trigger_delivery(event: Value) -> Result<TriggerDelivery, PipelineError> {
    let source = event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .map(str::to_string);
    match source.as_deref() {
        Some("aws:sqs") => {
            let sqs: SqsEvent =
                serde_json::from_value(event.clone()).map_err(|e| unparsed("an SQS event", &event, e))?;
            Ok(TriggerDelivery::Queue(
                sqs.records
                    .into_iter()
                    .map(|m| Message {
                        message_id: m.message_id.unwrap_or_default(),
                        created: m
                            .body
                            .as_deref()
                            .ok_or_else(|| PipelineError::bad_input("an SQS message without a body"))
                            .and_then(|b| {
                                serde_json::from_str::<Value>(b).map_err(|e| {
                                    PipelineError::bad_input(format!(
                                        "an SQS message whose body is not JSON ({e}): {}",
                                        truncate(b, 300)
                                    ))
                                })
                            })
                            .and_then(from_s3_notification),
                    })
                    .collect(),
            ))
        }
        Some("aws:s3") => Ok(TriggerDelivery::Direct(from_s3_notification(event)?)),
        _ if event.get("Event").is_some() => Ok(TriggerDelivery::Direct(from_s3_notification(event)?)),
        _ if event.get("detail-type").is_some() => {
            let eb: EventBridgeEvent<S3ObjectDetail> =
                serde_json::from_value(event.clone()).map_err(|e| unparsed("an EventBridge S3 event", &event, e))?;
            if eb.source != "aws.s3" || eb.detail_type != "Object Created" {
                return Ok(TriggerDelivery::Direct(Created {
                    objects: vec![],
                    ignored: vec![format!(
                        "{} from {} is not S3's Object Created",
                        eb.detail_type, eb.source
                    )],
                }));
            }
            Ok(TriggerDelivery::Direct(Created {
                objects: vec![ObjectCreated {
                    bucket: eb.detail.bucket.name,
                    key: decode_key(&eb.detail.object.key),
                }],
                ignored: vec![],
            }))
        }
        _ => Err(bad(
            "an S3 event (EventBridge Object Created, an S3 notification, or one through SQS)",
            &event,
        )),
    }
}

/// The time of an EventBridge "Scheduled Event" (milliseconds since the epoch), or `None` for
/// any other event. The scheduled look at the landing area judges ages against it.
pub fn scheduled_time(event: &Value) -> Option<u64> {
    if event.get("detail-type").and_then(Value::as_str) != Some("Scheduled Event") {
        return None;
    }
    let e: EventBridgeEvent = serde_json::from_value(event.clone()).ok()?;
    if e.source != "aws.events" {
        return None;
    }
    e.time.map(|t| t.timestamp_millis().max(0) as u64)
}

/// `detail` of EventBridge's "Step Functions Execution Status Change" event.
pub type ExecutionStatusChangeEvent = EventBridgeEvent<landfall_core::functions::ExecutionStatusChange>;

/// Parse the status-change event the notify function gets from its EventBridge rule.
pub fn execution_status_change(event: Value) -> Result<landfall_core::functions::ExecutionStatusChange, PipelineError> {
    let e: ExecutionStatusChangeEvent = serde_json::from_value(event.clone())
        .map_err(|err| unparsed("a Step Functions Execution Status Change event", &event, err))?;
    Ok(e.detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("landing/2026-11-26/titles.csv"),
            "landing/2026-11-26/titles.csv"
        );
        assert_eq!(
            decode_key("landing%2F2026-11-26%2Ftitles.csv"),
            "landing/2026-11-26/titles.csv"
        );
        assert_eq!(decode_key("a+b%2Bc"), "a b+c");
        assert_eq!(decode_key("caf%C3%A9"), "café");
    }

    #[test]
    fn a_status_change_as_eventbridge_delivers_it() {
        // The Step Functions developer guide's example ("Step Functions Execution Status Change").
        let e = json!({"version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
            "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
            "account": "123456789012", "time": "2019-02-26T19:42:21Z", "region": "us-east-1",
            "resources": ["arn:aws:states:us-east-1:123456789012:execution:state-machine-name:execution-name"],
            "detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:state-machine-name:execution-name",
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:state-machine",
                "name": "execution-name", "status": "FAILED", "startDate": 1551225146847i64,
                "stopDate": 1551225151881i64, "input": "{}", "inputDetails": {"included": true},
                "output": null, "outputDetails": null, "error": "States.Timeout", "cause": null}});
        let d = execution_status_change(e).unwrap();
        assert_eq!(d.name, "execution-name");
        assert_eq!(d.status, "FAILED");
        assert_eq!(d.error.as_deref(), Some("States.Timeout"));
        assert_eq!(d.cause, None);
        assert_eq!(d.input.as_deref(), Some("{}"));
        let e = execution_status_change(json!({"detail-type": "x", "source": "y", "detail": {}})).unwrap_err();
        assert!(e.message.contains("Status Change"), "{}", e.message);
    }

    #[test]
    fn a_scheduled_event_gives_its_time() {
        // The EventBridge user guide's example of a scheduled rule's event.
        let e = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2015-10-08T16:53:06Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"], "detail": {}});
        assert_eq!(scheduled_time(&e), Some(1_444_323_186_000));
        assert_eq!(
            scheduled_time(&json!({"detail-type": "Object Created", "source": "aws.s3"})),
            None
        );
    }

    #[test]
    fn anything_else_is_bad_input_naming_what_was_expected() {
        let e = trigger_delivery(json!({"not": "an s3 event"})).unwrap_err();
        assert_eq!(e.name, landfall_core::ErrorName::BadInput);
        assert!(e.message.contains("not an S3 event"), "{}", e.message);
        let e =
            trigger_delivery(json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}})).unwrap_err();
        assert!(e.message.contains("EventBridge S3 event"), "{}", e.message);
    }
}
