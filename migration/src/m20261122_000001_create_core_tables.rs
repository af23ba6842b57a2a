//! Users, tokens, accounts with integrations, assets, holdings, transactions, import jobs and
//! the audit log. Decimal values are TEXT (exact on every backend; see DESIGN.md, Storage).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    DisplayName,
    BaseCurrency,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    CreatedAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Scope,
    TokenHash,
    Prefix,
    ExpiresAt,
    LastUsedAt,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    UserId,
    Name,
    Kind,
    Currency,
    Institution,
    Notes,
    IntegrationType,
    IntegrationConfig,
    IntegrationStatus,
    LastSyncedAt,
    LastError,
    SyncCursor,
    Balance,
    BalanceCurrency,
    BalanceUpdatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Assets {
    Table,
    Id,
    AssetKey,
    Symbol,
    Name,
    Class,
    Currency,
    Exchange,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Holdings {
    Table,
    Id,
    AccountId,
    AssetId,
    Quantity,
    CostBasis,
    Price,
    MarketValue,
    Currency,
    AsOf,
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    AccountId,
    AssetId,
    Kind,
    TradeDate,
    SettleDate,
    Quantity,
    Price,
    Amount,
    Fee,
    Currency,
    Description,
    Source,
    SourceId,
    Fingerprint,
    ImportJobId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
    UserId,
    AccountId,
    Source,
    Trigger,
    Status,
    Fetched,
    Inserted,
    Updated,
    Duplicates,
    Failed,
    Error,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    UserId,
    Action,
    TargetType,
    TargetId,
    Detail,
    Ip,
    CreatedAt,
}

fn fk_cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string(Users::Email).unique_key())
                    .col(string(Users::PasswordHash))
                    .col(string_null(Users::DisplayName))
                    .col(string_len(Users::BaseCurrency, 3))
                    .col(string_len(Users::Role, 16))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(uuid(RefreshTokens::Id).primary_key())
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string(RefreshTokens::TokenHash).unique_key())
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_refresh_tokens_user",
                        (RefreshTokens::Table, RefreshTokens::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(uuid(ApiTokens::Id).primary_key())
                    .col(uuid(ApiTokens::UserId))
                    .col(string(ApiTokens::Name))
                    .col(string_len(ApiTokens::Scope, 16))
                    .col(string(ApiTokens::TokenHash).unique_key())
                    .col(string(ApiTokens::Prefix))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_api_tokens_user",
                        (ApiTokens::Table, ApiTokens::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_tokens_user")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(uuid(Accounts::Id).primary_key())
                    .col(uuid(Accounts::UserId))
                    .col(string(Accounts::Name))
                    .col(string_len(Accounts::Kind, 16))
                    .col(string_len(Accounts::Currency, 3))
                    .col(string_null(Accounts::Institution))
                    .col(text_null(Accounts::Notes))
                    .col(string_len_null(Accounts::IntegrationType, 16))
                    .col(text_null(Accounts::IntegrationConfig))
                    .col(string_len_null(Accounts::IntegrationStatus, 16))
                    .col(timestamp_with_time_zone_null(Accounts::LastSyncedAt))
                    .col(text_null(Accounts::LastError))
                    .col(text_null(Accounts::SyncCursor))
                    .col(string_null(Accounts::Balance))
                    .col(string_len_null(Accounts::BalanceCurrency, 3))
                    .col(timestamp_with_time_zone_null(Accounts::BalanceUpdatedAt))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_accounts_user",
                        (Accounts::Table, Accounts::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_user_id")
                    .table(Accounts::Table)
                    .col(Accounts::UserId)
                    .col(Accounts::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Assets::Table)
                    .col(uuid(Assets::Id).primary_key())
                    .col(string(Assets::AssetKey).unique_key())
                    .col(string(Assets::Symbol))
                    .col(string(Assets::Name))
                    .col(string_len(Assets::Class, 16))
                    .col(string_len(Assets::Currency, 3))
                    .col(string_null(Assets::Exchange))
                    .col(timestamp_with_time_zone(Assets::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Holdings::Table)
                    .col(uuid(Holdings::Id).primary_key())
                    .col(uuid(Holdings::AccountId))
                    .col(uuid(Holdings::AssetId))
                    .col(string(Holdings::Quantity))
                    .col(string_null(Holdings::CostBasis))
                    .col(string_null(Holdings::Price))
                    .col(string_null(Holdings::MarketValue))
                    .col(string_len(Holdings::Currency, 3))
                    .col(timestamp_with_time_zone(Holdings::AsOf))
                    .col(string(Holdings::Source))
                    .col(timestamp_with_time_zone(Holdings::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_holdings_account",
                        (Holdings::Table, Holdings::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_holdings_asset")
                            .from(Holdings::Table, Holdings::AssetId)
                            .to(Assets::Table, Assets::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_holdings_account_asset")
                    .table(Holdings::Table)
                    .col(Holdings::AccountId)
                    .col(Holdings::AssetId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ImportJobs::Table)
                    .col(uuid(ImportJobs::Id).primary_key())
                    .col(uuid(ImportJobs::UserId))
                    .col(uuid_null(ImportJobs::AccountId))
                    .col(string(ImportJobs::Source))
                    .col(string_len(ImportJobs::Trigger, 16))
                    .col(string_len(ImportJobs::Status, 16))
                    .col(integer(ImportJobs::Fetched).default(0))
                    .col(integer(ImportJobs::Inserted).default(0))
                    .col(integer(ImportJobs::Updated).default(0))
                    .col(integer(ImportJobs::Duplicates).default(0))
                    .col(integer(ImportJobs::Failed).default(0))
                    .col(text_null(ImportJobs::Error))
                    .col(timestamp_with_time_zone(ImportJobs::CreatedAt))
                    .col(timestamp_with_time_zone_null(ImportJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(ImportJobs::FinishedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_import_jobs_user",
                        (ImportJobs::Table, ImportJobs::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_import_jobs_account",
                        (ImportJobs::Table, ImportJobs::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_import_jobs_account")
                    .table(ImportJobs::Table)
                    .col(ImportJobs::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(uuid(Transactions::Id).primary_key())
                    .col(uuid(Transactions::AccountId))
                    .col(uuid_null(Transactions::AssetId))
                    .col(string_len(Transactions::Kind, 16))
                    .col(date(Transactions::TradeDate))
                    .col(date_null(Transactions::SettleDate))
                    .col(string_null(Transactions::Quantity))
                    .col(string_null(Transactions::Price))
                    .col(string(Transactions::Amount))
                    .col(string_null(Transactions::Fee))
                    .col(string_len(Transactions::Currency, 3))
                    .col(text_null(Transactions::Description))
                    .col(string(Transactions::Source))
                    .col(string(Transactions::SourceId))
                    .col(string(Transactions::Fingerprint))
                    .col(uuid_null(Transactions::ImportJobId))
                    .col(timestamp_with_time_zone(Transactions::CreatedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_transactions_account",
                        (Transactions::Table, Transactions::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_asset")
                            .from(Transactions::Table, Transactions::AssetId)
                            .to(Assets::Table, Assets::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transactions_import_job")
                            .from(Transactions::Table, Transactions::ImportJobId)
                            .to(ImportJobs::Table, ImportJobs::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_transactions_account_source_id")
                    .table(Transactions::Table)
                    .col(Transactions::AccountId)
                    .col(Transactions::Source)
                    .col(Transactions::SourceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_transactions_account_date")
                    .table(Transactions::Table)
                    .col(Transactions::AccountId)
                    .col(Transactions::TradeDate)
                    .col(Transactions::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::Id).primary_key())
                    .col(uuid_null(AuditLog::UserId))
                    .col(string(AuditLog::Action))
                    .col(string_null(AuditLog::TargetType))
                    .col(string_null(AuditLog::TargetId))
                    .col(text_null(AuditLog::Detail))
                    .col(string_null(AuditLog::Ip))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(&mut fk_cascade(
                        "fk_audit_log_user",
                        (AuditLog::Table, AuditLog::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_user")
                    .table(AuditLog::Table)
                    .col(AuditLog::UserId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            Transactions::Table.into_iden(),
            ImportJobs::Table.into_iden(),
            Holdings::Table.into_iden(),
            Assets::Table.into_iden(),
            Accounts::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
