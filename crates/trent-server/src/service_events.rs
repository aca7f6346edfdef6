//! What KMS does by itself (automatic rotation, deletion at the end of the waiting
//! period, expiry of imported key material), recorded in the audit trail as AWS records
//! it: `AwsServiceEvent`s named `RotateKey`, `DeleteKey` and `DeleteExpiredKeyMaterial`
//! with the service as the actor
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html>,
//! <https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html>,
//! <https://docs.aws.amazon.com/kms/latest/developerguide/ct-deleteexpiredkeymaterial.html>).

use std::future::Future;
use std::pin::Pin;

use trent_audit::{AuditLog, Record};
use trent_core::{ServiceEvent, ServiceEventSink};

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
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.log
                .record(&record_of(&event))
                .await
                .map_err(|e| e.to_string())
        })
    }
}
