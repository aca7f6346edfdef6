//! Multi-Region keys (migration 0007): the region-keys of one multi-Region key. Every
//! region-key is a key of its own; the writes that change several of them at once are
//! [`Transaction`](crate::Transaction)s (`store/transact.rs`).

use super::{keys_from_rows, query, SqlStore, KEY_COLUMNS};
use crate::sql::Dialect;
use crate::{KeyRecord, StoreError};

impl<D: Dialect> SqlStore<D> {
    pub(super) async fn mrk_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let c = D::COLLATE;
        let rows = query(format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE mrk_id = $1) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.region{c}, k.key_id{c}, t.position"
        ))
        .bind(mrk_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        keys_from_rows(&rows)
    }
}
