//! ListResourceTags: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html>
//! Paged in the order the tags were set; the marker is the index of the next tag.

use trent_wire::{ListResourceTagsRequest, ListResourceTagsResponse, Operation, Tag};

use super::common::limit;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn list_resource_tags(
        &self,
        caller: &Caller,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::ListResourceTags,
            )
            .await?;
        let start = match &req.marker {
            Some(m) => m
                .strip_prefix("tag:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= key.record.tags.len())
                .ok_or(KmsError::InvalidMarker)?,
            None => 0,
        };
        let limit = limit(req.limit).min(50) as usize;
        let tags = &key.record.tags[start..];
        let truncated = tags.len() > limit;
        let page: Vec<Tag> = tags
            .iter()
            .take(limit)
            .map(|(k, v)| Tag {
                tag_key: k.clone(),
                tag_value: v.clone(),
            })
            .collect();
        Ok(ListResourceTagsResponse {
            next_marker: truncated.then(|| format!("tag:{}", start + limit)),
            tags: Some(page),
            truncated: Some(truncated),
        })
    }
}
