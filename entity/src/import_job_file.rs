//! One chunk (about 1 MiB) of the file an upload job keeps for a retry.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_job_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub import_job_id: Uuid,
    /// 0, 1, 2, ...: the chunk's place in the file.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    #[sea_orm(column_type = "Blob")]
    pub bytes: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
