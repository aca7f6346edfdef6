//! GetKeyLastUsage: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html>
//!
//! The last successful cryptographic operation with the key, its time, and the CloudTrail
//! event and request ids of that call. Uses are recorded in memory and written to the
//! store in batches (`last_usage.rs`); this node's pending ones count too.

use trent_wire::{
    GetKeyLastUsageRequest, GetKeyLastUsageResponse, KeyLastUsageData,
    KeyLastUsageTrackingOperation, Operation, Timestamp,
};

use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn get_key_last_usage(
        &self,
        caller: &Caller,
        req: GetKeyLastUsageRequest,
    ) -> Result<GetKeyLastUsageResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::GetKeyLastUsage,
            )
            .await?;
        let record = &key.record;
        let usage = self.key_last_usage(&record.key_id).await?;
        Ok(GetKeyLastUsageResponse {
            key_id: Some(crate::keys::public_key_id(record).to_owned()),
            key_last_usage: usage.map(|u| KeyLastUsageData {
                operation: KeyLastUsageTrackingOperation::parse(&u.operation),
                timestamp: Some(Timestamp::from_millis(u.used_at)),
                cloud_trail_event_id: u.event_id,
                kms_request_id: u.request_id,
            }),
            tracking_start_date: Some(Timestamp::from_millis(
                self.usage_tracking_start.max(record.created_at),
            )),
            key_creation_date: Some(Timestamp::from_millis(record.created_at)),
        })
    }
}
