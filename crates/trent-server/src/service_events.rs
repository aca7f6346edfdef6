//! What KMS does by itself (automatic rotation, deletion at the end of the waiting
//! period, expiry of imported key material), recorded in the audit trail as AWS records
//! it: `AwsServiceEvent`s named `RotateKey`, `DeleteKey` and `DeleteExpiredKeyMaterial`
//! with the service as the actor
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html>,
//! <https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html>,
//! <https://docs.aws.amazon.com/kms/latest/developerguide/ct-deleteexpiredkeymaterial.html>).

use std::future::Future;
use std::pin::Pin;

use trent_audit::{AuditLog, Record, Resource};
use trent_core::{Intent, ServiceEvent, ServiceEventSink};

/// The sink the key service's jobs write to.
pub struct AuditEvents {
    pub log: AuditLog,
}

/// The record of a service event. Its time is the real time (as every event of the trail):
/// the test clock moves KMS semantics only.
pub fn record_of(event: &ServiceEvent) -> Record {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match event {
        ServiceEvent::RotateKey {
            account_id,
            region,
            key_arn,
            key_id,
            key_origin,
            rotation_type,
            previous_material_id,
            current_material_id,
            at: _,
        } => {
            let mut r = Record::service_event("RotateKey", account_id, region, key_arn, None, now);
            r.service_event_details = Some(serde_json::json!({
                "rotationType": rotation_type,
                "keyId": key_id,
                "keyOrigin": key_origin,
                "previousKeyMaterialId": previous_material_id,
                "currentKeyMaterialId": current_material_id,
            }));
            r
        }
        ServiceEvent::DeleteExpiredKeyMaterial {
            account_id,
            region,
            key_arn,
            key_material_id,
            at: _,
        } => {
            let mut r = Record::service_event(
                "DeleteExpiredKeyMaterial",
                account_id,
                region,
                key_arn,
                None,
                now,
            );
            r.service_event_details = Some(serde_json::json!({
                "keyMaterialId": key_material_id,
            }));
            r
        }
        ServiceEvent::DeleteKey {
            account_id,
            region,
            key_arn,
            at: _,
        } => {
            let mut r = Record::service_event("DeleteKey", account_id, region, key_arn, None, now);
            // "CloudTrail log entries for this operation recorded on or after December 2022
            // include the key ARN of the affected KMS key in the responseElements.keyId value".
            r.response_elements = Some(serde_json::json!({ "keyId": key_arn }));
            r
        }
    }
}

impl ServiceEventSink for AuditEvents {
    fn record(
        &self,
        event: ServiceEvent,
        job_id: Option<String>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let mut record = record_of(&event);
            // The id the job's intent was recorded with: CloudTrail's sharedEventID ties
            // events "from the same AWS action".
            record.shared_event_id = job_id;
            self.log.record(&record).await.map_err(|e| e.to_string())
        })
    }

    /// The intent of a job's change: the service event it will be, without its outcome,
    /// with the job's id as `sharedEventID`.
    fn intend<'a>(
        &'a self,
        event_name: &'static str,
        job_id: &'a str,
        intent: &'a Intent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let first = intent.resources.first().map(String::as_str).unwrap_or("");
            // arn:PARTITION:kms:REGION:ACCOUNT:...
            let mut parts = first.split(':').skip(3);
            let region = parts.next().unwrap_or("");
            let account = parts.next().unwrap_or("");
            let mut record =
                Record::service_event(event_name, account, region, first, None, now_millis());
            record.resources = intent
                .resources
                .iter()
                .filter_map(|a| Resource::kms(a))
                .collect();
            record.additional_event_data = Some(crate::audit::intent_details(intent));
            record.shared_event_id = Some(job_id.to_owned());
            self.log
                .record_intent(&record)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
