//! Market data: daily bars (`prices`), the latest quote per asset (`quotes`), FX rates
//! (`fx_rates`) and per-asset price bookkeeping (`data_source_metadata`). Rows are keyed by
//! the stable asset key (`EQUITY:XNAS:AAPL`), not by `assets.id`: a quote can be asked for an
//! instrument nobody holds. Decimals are canonical text, exact on both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Prices {
    Table,
    Id,
    AssetKey,
    Date,
    Open,
    High,
    Low,
    Close,
    AdjClose,
    Volume,
    Currency,
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    Id,
    AssetKey,
    Symbol,
    Price,
    Currency,
    AsOf,
    Source,
    FetchedAt,
}

#[derive(DeriveIden)]
enum FxRates {
    Table,
    Id,
    Base,
    Quote,
    Date,
    Rate,
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DataSourceMetadata {
    Table,
    Id,
    AssetKey,
    LastPriceUpdate,
    Source,
    QualityScore,
    LastError,
    ConsecutiveFailures,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Prices::Table)
                    .col(uuid(Prices::Id).primary_key())
                    .col(string(Prices::AssetKey))
                    .col(date(Prices::Date))
                    .col(text_null(Prices::Open))
                    .col(text_null(Prices::High))
                    .col(text_null(Prices::Low))
                    .col(text(Prices::Close))
                    .col(text_null(Prices::AdjClose))
                    .col(text_null(Prices::Volume))
                    .col(string_len(Prices::Currency, 16))
                    .col(string_len(Prices::Source, 32))
                    .col(timestamp_with_time_zone(Prices::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_prices_asset_date")
                    .table(Prices::Table)
                    .col(Prices::AssetKey)
                    .col(Prices::Date)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Quotes::Table)
                    .col(uuid(Quotes::Id).primary_key())
                    .col(string(Quotes::AssetKey).unique_key())
                    .col(string(Quotes::Symbol))
                    .col(text(Quotes::Price))
                    .col(string_len(Quotes::Currency, 16))
                    .col(timestamp_with_time_zone(Quotes::AsOf))
                    .col(string_len(Quotes::Source, 32))
                    .col(timestamp_with_time_zone(Quotes::FetchedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FxRates::Table)
                    .col(uuid(FxRates::Id).primary_key())
                    .col(string_len(FxRates::Base, 16))
                    .col(string_len(FxRates::Quote, 16))
                    .col(date(FxRates::Date))
                    .col(text(FxRates::Rate))
                    .col(string_len(FxRates::Source, 32))
                    .col(timestamp_with_time_zone(FxRates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_fx_rates_pair_date")
                    .table(FxRates::Table)
                    .col(FxRates::Base)
                    .col(FxRates::Quote)
                    .col(FxRates::Date)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DataSourceMetadata::Table)
                    .col(uuid(DataSourceMetadata::Id).primary_key())
                    .col(string(DataSourceMetadata::AssetKey).unique_key())
                    .col(timestamp_with_time_zone_null(
                        DataSourceMetadata::LastPriceUpdate,
                    ))
                    .col(string_len_null(DataSourceMetadata::Source, 32))
                    .col(integer(DataSourceMetadata::QualityScore).default(100))
                    .col(text_null(DataSourceMetadata::LastError))
                    .col(integer(DataSourceMetadata::ConsecutiveFailures).default(0))
                    .col(timestamp_with_time_zone(DataSourceMetadata::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DataSourceMetadata::Table.into_iden(),
            FxRates::Table.into_iden(),
            Quotes::Table.into_iden(),
            Prices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
