//! Master-key rotation: every stored integration config is decrypted with the current key and
//! sealed again under the new one, in one database transaction.

use sea_orm::{DatabaseConnection, Set, TransactionTrait};
use tributary_entity::account;

use crate::repo;
use crate::secrets::MasterKey;

/// Re-encrypts every integration config from `old` to `new`. Returns how many were rewritten.
///
/// # Errors
/// Any config that does not open with `old` aborts the whole rotation (nothing is changed).
pub async fn rotate(
    db: &DatabaseConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> anyhow::Result<usize> {
    let txn = db.begin().await?;
    let rows = repo::accounts::all_with_integration(&txn).await?;
    let mut count = 0;
    for row in rows {
        let Some(sealed) = row.integration_config.clone() else {
            continue;
        };
        if MasterKey::key_id_of(&sealed).ok() == Some(new.id()) {
            continue;
        }
        let plain = old
            .open(&sealed, row.id.as_bytes())
            .map_err(|e| anyhow::anyhow!("account {}: {e}", row.id))?;
        let id = row.id;
        let mut m: account::ActiveModel = row.into();
        m.integration_config = Set(Some(new.seal(&plain, id.as_bytes())));
        repo::accounts::update(&txn, m).await?;
        count += 1;
    }
    txn.commit().await?;
    Ok(count)
}
