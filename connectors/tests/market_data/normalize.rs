//! The taxonomy override file as an operator would ship it.

use tributary_connectors::market::MarketDataConfig;
use tributary_connectors::{ConnectorError, MarketData};

#[test]
fn an_operator_taxonomy_file_is_merged_over_the_shipped_one() {
    let dir = std::env::temp_dir().join(format!("tributary-taxonomy-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("taxonomy.toml");
    std::fs::write(
        &file,
        "[[crypto]]\nsymbol = \"WIF\"\nname = \"dogwifhat\"\ncoingecko_id = \"dogwifcoin\"\n\n[[listings]]\nsymbol = \"ASML\"\nmic = \"XNAS\"\nclass = \"equity\"\nname = \"ASML Holding N.V.\"\n",
    )
    .expect("write");
    let config = MarketDataConfig {
        taxonomy_path: Some(file),
        ..MarketDataConfig::default()
    };
    let market = MarketData::new(config).expect("built");
    assert_eq!(
        market.resolve("WIF", None).expect("wif").asset_id,
        "CRYPTO:WIF"
    );
    assert_eq!(
        market.resolve("ASML", None).expect("asml").asset_id,
        "EQUITY:XNAS:ASML"
    );
    assert_eq!(
        market.resolve("BTC", None).expect("btc").asset_id,
        "CRYPTO:BTC"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let missing = MarketDataConfig {
        taxonomy_path: Some("/nonexistent/taxonomy.toml".into()),
        ..MarketDataConfig::default()
    };
    assert!(matches!(
        MarketData::new(missing),
        Err(ConnectorError::InvalidConfig { field, .. }) if field == "taxonomy"
    ));
}
