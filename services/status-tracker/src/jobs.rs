//! What an event says about its job: the status word, whether it is final, progress,
//! the result or the error. Events can arrive out of order; the store keeps the
//! latest by event time and never lets a non-final status replace a final one.

use herald_proto::Event;
use serde_json::Value;

/// Statuses after which a job does not change.
const FINAL: &[&str] = &[
    "completed",
    "succeeded",
    "success",
    "failed",
    "error",
    "cancelled",
    "canceled",
    "expired",
];
const FAILURES: &[&str] = &["failed", "error", "cancelled", "canceled", "expired"];

/// The change one event makes to its job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    pub job_id: String,
    pub job_type: Option<String>,
    /// `None` for events that report progress only.
    pub status: Option<String>,
    pub terminal: bool,
    /// 0–100.
    pub progress: Option<f64>,
    /// JSON text.
    pub result: Option<String>,
    /// JSON text.
    pub error: Option<String>,
    /// When the event happened.
    pub at: i64,
}

impl JobUpdate {
    /// The update `event` makes, when it belongs to a job.
    pub fn from_event(event: &Event) -> Option<Self> {
        let job_id = event.job_id.clone()?;
        let data: Value = serde_json::from_slice(&event.data).unwrap_or(Value::Null);
        let last = event
            .event_type
            .as_str()
            .rsplit('.')
            .next()
            .unwrap_or_default();
        let status = data["status"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .or_else(|| (last != "progress").then(|| last.to_owned()));
        let terminal = status.as_deref().is_some_and(|s| FINAL.contains(&s));
        let failed = status.as_deref().is_some_and(|s| FAILURES.contains(&s));
        let progress = progress_of(&data).or((terminal && !failed).then_some(100.0));
        let job_type = data["job_type"]
            .as_str()
            .or(data["jobType"].as_str())
            .map(str::to_owned)
            .or_else(|| {
                event
                    .event_type
                    .as_str()
                    .split('.')
                    .next()
                    .map(str::to_owned)
            });
        let pick = |keys: &[&str]| {
            keys.iter()
                .map(|k| &data[*k])
                .find(|v| !v.is_null())
                .map(Value::to_string)
        };
        let (result, error) = match (terminal, failed) {
            (true, false) => (
                pick(&["result", "results", "output"]).or(Some(data.to_string())),
                None,
            ),
            (true, true) => (
                None,
                pick(&["error", "errorCode", "error_code", "message"]).or(Some(data.to_string())),
            ),
            _ => (None, None),
        };
        Some(JobUpdate {
            job_id,
            job_type,
            status,
            terminal,
            progress,
            result,
            error,
            at: event.timestamp_ms,
        })
    }
}

/// `progress_percent`, `progress` (0–100), or `processed` of `total`.
fn progress_of(data: &Value) -> Option<f64> {
    let percent = data["progress_percent"]
        .as_f64()
        .or(data["progress"].as_f64())
        .or_else(|| {
            let (done, total) = (data["processed"].as_f64()?, data["total"].as_f64()?);
            (total > 0.0).then(|| done / total * 100.0)
        })?;
    Some(percent.clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use herald_proto::EventType;

    fn event(event_type: &str, data: &str) -> Event {
        Event {
            event_id: "e".into(),
            tenant: "acme".into(),
            event_type: EventType::parse(event_type).unwrap(),
            data: Bytes::from(data.to_owned()),
            job_id: Some("job_1".into()),
            timestamp_ms: 5,
            accepted_at_ms: 6,
            callback: None,
        }
    }

    #[test]
    fn reads_status_progress_result_and_error() {
        let processing =
            JobUpdate::from_event(&event("job.processing", r#"{"jobType":"render"}"#)).unwrap();
        assert_eq!(processing.status.as_deref(), Some("processing"));
        assert_eq!(processing.job_type.as_deref(), Some("render"));
        assert!(!processing.terminal);

        let progress =
            JobUpdate::from_event(&event("batch.progress", r#"{"processed":25,"total":50}"#))
                .unwrap();
        assert_eq!(progress.status, None);
        assert_eq!(progress.progress, Some(50.0));
        assert_eq!(progress.job_type.as_deref(), Some("batch"));

        let done =
            JobUpdate::from_event(&event("job.completed", r#"{"results":{"url":"u"}}"#)).unwrap();
        assert!(done.terminal);
        assert_eq!(done.result.as_deref(), Some(r#"{"url":"u"}"#));
        assert_eq!(done.progress, Some(100.0));

        let failed = JobUpdate::from_event(&event("job.failed", r#"{"errorCode":"OOM"}"#)).unwrap();
        assert!(failed.terminal);
        assert_eq!(failed.error.as_deref(), Some(r#""OOM""#));

        let mut no_job = event("job.completed", "{}");
        no_job.job_id = None;
        assert!(JobUpdate::from_event(&no_job).is_none());
    }
}
