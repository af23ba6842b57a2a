//! Users.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use tributary_entity::user;
use uuid::Uuid;

/// Inserts a user; a duplicate e-mail is a unique violation for the caller to map.
pub async fn insert(
    db: &impl ConnectionTrait,
    email: &str,
    password_hash: &str,
    role: &str,
) -> Result<user::Model, DbErr> {
    let now = Utc::now();
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_string()),
        password_hash: Set(password_hash.to_string()),
        display_name: Set(None),
        base_currency: Set("USD".to_string()),
        role: Set(role.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
}

/// The acting user's own row.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    user::Entity::find().count(db).await
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    model.update(db).await
}

/// Every user, oldest first (admin code only).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, DbErr> {
    use sea_orm::QueryOrder;
    user::Entity::find()
        .order_by_asc(user::Column::Id)
        .all(db)
        .await
}
