//! Export in CloudTrail's S3 layout, for SIEMs that read CloudTrail:
//! `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`,
//! each a gzip'd `{"Records":[...]}`
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html>).
//! CloudTrail delivers a file about every five minutes; the export groups records the
//! same way (per account, region and five-minute window).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::record::{parse_event_time, Record};
use crate::AuditError;

pub fn export(
    records: &[Record],
    out: &Path,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<PathBuf>, AuditError> {
    let mut groups: BTreeMap<(String, String, i64), Vec<&Record>> = BTreeMap::new();
    for r in records {
        let t = parse_event_time(&r.event_time).unwrap_or(0);
        if start.is_some_and(|s| t < s) || end.is_some_and(|e| t > e) {
            continue;
        }
        let window = t - t.rem_euclid(300);
        groups
            .entry((r.recipient_account_id.clone(), r.aws_region.clone(), window))
            .or_default()
            .push(r);
    }
    let mut written = Vec::new();
    for ((account, region, window), group) in groups {
        let Ok(when) = time::OffsetDateTime::from_unix_timestamp(window) else {
            continue;
        };
        let dir = out
            .join("AWSLogs")
            .join(&account)
            .join("CloudTrail")
            .join(&region)
            .join(format!("{:04}", when.year()))
            .join(format!("{:02}", u8::from(when.month())))
            .join(format!("{:02}", when.day()));
        std::fs::create_dir_all(&dir)?;
        let body = serde_json::json!({ "Records": group });
        let json = serde_json::to_vec(&body).map_err(|_| AuditError::Encode)?;
        let unique = &hex::encode(crate::chain::sha256(&json))[..16];
        let name = format!(
            "{account}_CloudTrail_{region}_{:04}{:02}{:02}T{:02}{:02}Z_{unique}.json.gz",
            when.year(),
            u8::from(when.month()),
            when.day(),
            when.hour(),
            when.minute()
        );
        let path = dir.join(name);
        let file = std::fs::File::create(&path)?;
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        gz.write_all(&json)?;
        gz.finish()?.sync_all()?;
        written.push(path);
    }
    Ok(written)
}
