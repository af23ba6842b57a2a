//! Flex statement parser benchmark.
//!
//! Generates one account's `FlexQueryResponse` with `--trades` executions (stocks on several
//! exchanges, ETFs, options, futures, forex pairs; every attribute a typical Activity Flex query
//! carries) and `--cash` cash transactions (dividends, withholding tax, interest, fees, deposits),
//! then either writes it to `--write PATH` and exits (input for the import benchmark) or parses it
//! `--iterations` times and prints bytes, records, parse time, records/s and peak RSS.
//!
//! ```text
//! cargo run --release -p tributary-connectors --example flex_bench -- \
//!     [--trades 100000] [--cash 20000] [--iterations 5] [--write PATH]
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use tributary_connectors::ibkr::category::CategoryMap;
use tributary_connectors::ibkr::flex::parse::parse_statement;

type Error = Box<dyn std::error::Error>;

struct Args {
    trades: usize,
    cash: usize,
    iterations: usize,
    write: Option<String>,
}

fn args() -> Result<Args, Error> {
    let mut parsed = Args {
        trades: 100_000,
        cash: 20_000,
        iterations: 5,
        write: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--trades" => parsed.trades = value()?.parse()?,
            "--cash" => parsed.cash = value()?.parse()?,
            "--iterations" => parsed.iterations = value()?.parse::<usize>()?.max(1),
            "--write" => parsed.write = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "flex_bench [--trades N] [--cash M] [--iterations K] [--write PATH]\n\
                     Generates a Flex statement with N trades and M cash transactions; writes it \
                     to PATH, or parses it K times and reports the speed."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(parsed)
}

/// xorshift64*: deterministic, so every run parses the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An instrument the generator trades.
struct Instrument {
    category: &'static str,
    sub_category: &'static str,
    symbol: &'static str,
    description: &'static str,
    conid: u32,
    isin: &'static str,
    exchange: &'static str,
    currency: &'static str,
    underlying: &'static str,
    multiplier: u32,
    strike: &'static str,
    expiry: &'static str,
    put_call: &'static str,
    /// Price in hundredths.
    price_cents: u64,
}

const fn stock(
    symbol: &'static str,
    description: &'static str,
    conid: u32,
    isin: &'static str,
    exchange: &'static str,
    currency: &'static str,
    price_cents: u64,
) -> Instrument {
    Instrument {
        category: "STK",
        sub_category: "COMMON",
        symbol,
        description,
        conid,
        isin,
        exchange,
        currency,
        underlying: symbol,
        multiplier: 1,
        strike: "",
        expiry: "",
        put_call: "",
        price_cents,
    }
}

const INSTRUMENTS: [Instrument; 12] = [
    stock(
        "AAPL",
        "APPLE INC",
        265_598,
        "US0378331005",
        "NASDAQ",
        "USD",
        18_550,
    ),
    stock(
        "MSFT",
        "MICROSOFT CORP",
        272_093,
        "US5949181045",
        "NASDAQ",
        "USD",
        41_020,
    ),
    stock(
        "JPM",
        "JPMORGAN CHASE &amp; CO",
        1_520_593,
        "US46625H1005",
        "NYSE",
        "USD",
        19_875,
    ),
    stock(
        "KO",
        "COCA-COLA CO/THE",
        8_894,
        "US1912161007",
        "NYSE",
        "USD",
        6_240,
    ),
    stock(
        "SAP",
        "SAP SE",
        14_204,
        "DE0007164600",
        "IBIS",
        "EUR",
        21_040,
    ),
    stock(
        "VOD",
        "VODAFONE GROUP PLC",
        13_435,
        "GB00BH4HKS39",
        "LSE",
        "GBP",
        70,
    ),
    Instrument {
        sub_category: "ETF",
        ..stock(
            "SPY",
            "SPDR S&amp;P 500 ETF TRUST",
            756_733,
            "US78462F1030",
            "ARCA",
            "USD",
            59_025,
        )
    },
    Instrument {
        sub_category: "ETF",
        ..stock(
            "VWCE",
            "VANGUARD FTSE ALL-WORLD UCITS ETF",
            185_386_002,
            "IE00BK5BQT80",
            "IBIS",
            "EUR",
            12_180,
        )
    },
    Instrument {
        category: "OPT",
        sub_category: "C",
        symbol: "AAPL  250620C00200000",
        description: "AAPL 20JUN25 200 C",
        conid: 745_981_234,
        isin: "",
        exchange: "CBOE",
        currency: "USD",
        underlying: "AAPL",
        multiplier: 100,
        strike: "200",
        expiry: "20250620",
        put_call: "C",
        price_cents: 535,
    },
    Instrument {
        category: "OPT",
        sub_category: "P",
        symbol: "SPY   250321P00550000",
        description: "SPY 21MAR25 550 P",
        conid: 745_990_001,
        isin: "",
        exchange: "CBOE",
        currency: "USD",
        underlying: "SPY",
        multiplier: 100,
        strike: "550",
        expiry: "20250321",
        put_call: "P",
        price_cents: 412,
    },
    Instrument {
        category: "FUT",
        sub_category: "",
        symbol: "ESH5",
        description: "ES 21MAR25",
        conid: 551_601_561,
        isin: "",
        exchange: "CME",
        currency: "USD",
        underlying: "ES",
        multiplier: 50,
        strike: "",
        expiry: "20250321",
        put_call: "",
        price_cents: 595_025,
    },
    Instrument {
        category: "CASH",
        sub_category: "",
        symbol: "EUR.USD",
        description: "EUR.USD",
        conid: 12_087_792,
        isin: "",
        exchange: "",
        currency: "USD",
        underlying: "",
        multiplier: 1,
        strike: "",
        expiry: "",
        put_call: "",
        price_cents: 103,
    },
];

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// Writes one `<Trade>` row with the attributes of a typical Activity Flex query.
fn trade_row(out: &mut String, rng: &mut Rng, i: usize, date: NaiveDate) -> std::fmt::Result {
    let instrument =
        &INSTRUMENTS[usize::try_from(rng.below(INSTRUMENTS.len() as u64)).unwrap_or(0)];
    let buy = rng.below(3) != 0;
    let quantity = i64::try_from(
        1 + rng.below(if instrument.category == "STK" {
            200
        } else {
            10
        }),
    )
    .unwrap_or(1)
        * if instrument.category == "CASH" {
            1000
        } else {
            1
        };
    let signed_quantity = if buy { quantity } else { -quantity };
    let price = instrument.price_cents + rng.below(instrument.price_cents / 20 + 1);
    let gross = i64::try_from(price).unwrap_or(0) * quantity * i64::from(instrument.multiplier);
    let proceeds = if buy { -gross } else { gross };
    let commission = -(100 + i64::try_from(rng.below(150)).unwrap_or(0));
    let net_cash = if instrument.category == "FUT" {
        commission
    } else {
        proceeds + commission
    };
    let day = date.format("%Y%m%d");
    let when = format!(
        "{day};{:02}{:02}{:02}",
        9 + rng.below(7),
        rng.below(60),
        rng.below(60)
    );
    writeln!(
        out,
        "<Trade accountId=\"U1234567\" acctAlias=\"Main brokerage\" model=\"\" currency=\"{ccy}\" \
         fxRateToBase=\"{fx}\" assetCategory=\"{cat}\" subCategory=\"{sub}\" symbol=\"{sym}\" \
         description=\"{desc}\" conid=\"{conid}\" securityID=\"{isin}\" securityIDType=\"{isin_type}\" \
         cusip=\"\" isin=\"{isin}\" figi=\"\" listingExchange=\"{exch}\" underlyingConid=\"\" \
         underlyingSymbol=\"{und}\" underlyingSecurityID=\"\" underlyingListingExchange=\"\" issuer=\"\" \
         issuerCountryCode=\"US\" multiplier=\"{mult}\" strike=\"{strike}\" expiry=\"{expiry}\" \
         putCall=\"{pc}\" principalAdjustFactor=\"\" reportDate=\"{day}\" dateTime=\"{when}\" \
         tradeDate=\"{day}\" settleDateTarget=\"{day}\" transactionType=\"ExchTrade\" exchange=\"{exch}\" \
         quantity=\"{q}\" tradePrice=\"{price}\" tradeMoney=\"{money}\" proceeds=\"{proceeds}\" \
         taxes=\"0\" ibCommission=\"{comm}\" ibCommissionCurrency=\"{ccy}\" netCash=\"{net}\" \
         closePrice=\"{price}\" openCloseIndicator=\"{oc}\" notes=\"\" cost=\"{money}\" \
         fifoPnlRealized=\"0\" mtmPnl=\"12.5\" origTradePrice=\"0\" origTradeDate=\"\" origTradeID=\"\" \
         origOrderID=\"0\" clearingFirmID=\"\" transactionID=\"{txid}\" buySell=\"{side}\" \
         ibOrderID=\"{order}\" ibExecID=\"0000e0d5.{i:08x}.01.01\" brokerageOrderID=\"\" \
         orderReference=\"\" volatilityOrderLink=\"\" exchOrderId=\"N/A\" extExecID=\"\" \
         orderTime=\"{when}\" openDateTime=\"\" holdingPeriodDateTime=\"\" whenRealized=\"\" \
         whenReopened=\"\" levelOfDetail=\"EXECUTION\" changeInPrice=\"0\" changeInQuantity=\"0\" \
         orderType=\"LMT\" traderID=\"\" isAPIOrder=\"N\" accruedInt=\"0\" tradeID=\"{tradeid}\" />",
        ccy = instrument.currency,
        fx = if instrument.currency == "USD" {
            "1"
        } else {
            "1.0873"
        },
        cat = instrument.category,
        sub = instrument.sub_category,
        sym = instrument.symbol,
        desc = instrument.description,
        conid = instrument.conid,
        isin = instrument.isin,
        isin_type = if instrument.isin.is_empty() {
            ""
        } else {
            "ISIN"
        },
        exch = instrument.exchange,
        und = instrument.underlying,
        mult = instrument.multiplier,
        strike = instrument.strike,
        expiry = instrument.expiry,
        pc = instrument.put_call,
        q = signed_quantity,
        price = money(i64::try_from(price).unwrap_or(0)),
        money = money(gross),
        proceeds = money(proceeds),
        comm = money(commission),
        net = money(net_cash),
        oc = if buy { "O" } else { "C" },
        txid = 30_000_000_000_u64 + i as u64,
        side = if buy { "BUY" } else { "SELL" },
        order = 4_000_000_000_u64 + i as u64 / 2,
        tradeid = 800_000_000_u64 + i as u64,
    )
}

/// Writes one `<CashTransaction>` row.
fn cash_row(out: &mut String, rng: &mut Rng, i: usize, date: NaiveDate) -> std::fmt::Result {
    const KINDS: [(&str, i64, bool); 6] = [
        ("Dividends", 1, true),
        ("Withholding Tax", -1, true),
        ("Broker Interest Received", 1, false),
        ("Other Fees", -1, false),
        ("Deposits/Withdrawals", 1, false),
        ("Payment In Lieu Of Dividends", 1, true),
    ];
    let (kind, sign, with_asset) =
        KINDS[usize::try_from(rng.below(KINDS.len() as u64)).unwrap_or(0)];
    let stock = &INSTRUMENTS[usize::try_from(rng.below(4)).unwrap_or(0)];
    let amount = sign * i64::try_from(1 + rng.below(500_000)).unwrap_or(1);
    let (symbol, description, conid, isin, exchange) = if with_asset {
        (
            stock.symbol,
            format!(
                "{}({}) CASH DIVIDEND USD 0.25 PER SHARE (Ordinary Dividend)",
                stock.symbol, stock.isin
            ),
            stock.conid.to_string(),
            stock.isin,
            stock.exchange,
        )
    } else {
        (
            "",
            "USD CREDIT INT FOR JAN-2025".to_owned(),
            String::new(),
            "",
            "",
        )
    };
    let day = date.format("%Y%m%d");
    writeln!(
        out,
        "<CashTransaction accountId=\"U1234567\" acctAlias=\"Main brokerage\" model=\"\" \
         currency=\"USD\" fxRateToBase=\"1\" assetCategory=\"{cat}\" subCategory=\"\" symbol=\"{symbol}\" \
         description=\"{description}\" conid=\"{conid}\" securityID=\"{isin}\" securityIDType=\"\" \
         cusip=\"\" isin=\"{isin}\" figi=\"\" listingExchange=\"{exchange}\" underlyingConid=\"\" \
         underlyingSymbol=\"\" underlyingSecurityID=\"\" underlyingListingExchange=\"\" issuer=\"\" \
         issuerCountryCode=\"\" multiplier=\"0\" strike=\"\" expiry=\"\" putCall=\"\" \
         principalAdjustFactor=\"\" dateTime=\"{day};202000\" settleDate=\"{day}\" amount=\"{amount}\" \
         type=\"{kind}\" tradeID=\"\" code=\"\" transactionID=\"{txid}\" reportDate=\"{day}\" \
         exDate=\"\" clientReference=\"\" actionID=\"\" levelOfDetail=\"DETAIL\" serialNumber=\"\" \
         deliveryType=\"\" commodityType=\"\" fineness=\"0.0\" weight=\"0.0 ()\" />",
        cat = if with_asset { "STK" } else { "" },
        amount = money(amount),
        txid = 40_000_000_000_u64 + i as u64,
    )
}

/// The whole statement.
fn generate(trades: usize, cash: usize) -> Result<String, Error> {
    let mut rng = Rng(0x0F1E_C0DE_5EED_2025);
    let start = NaiveDate::from_ymd_opt(2023, 1, 2).ok_or("bad start date")?;
    let end = start
        .checked_add_days(Days::new(729))
        .ok_or("bad end date")?;
    let day_of = |i: usize, n: usize| {
        let offset = (i as u64 * 730) / (n.max(1) as u64);
        start.checked_add_days(Days::new(offset)).unwrap_or(start)
    };
    let mut out = String::with_capacity(trades * 2200 + cash * 1100 + 4096);
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(out, "<FlexQueryResponse queryName=\"bench\" type=\"AF\">")?;
    writeln!(out, "<FlexStatements count=\"1\">")?;
    writeln!(
        out,
        "<FlexStatement accountId=\"U1234567\" fromDate=\"{}\" toDate=\"{}\" period=\"Custom\" \
         whenGenerated=\"{};083015\">",
        start.format("%Y%m%d"),
        end.format("%Y%m%d"),
        end.format("%Y%m%d")
    )?;
    writeln!(
        out,
        "<AccountInformation accountId=\"U1234567\" acctAlias=\"Main brokerage\" currency=\"USD\" \
         name=\"Jane Q Investor\" accountType=\"Individual\" dateOpened=\"20190315\" />"
    )?;
    writeln!(out, "<EquitySummaryInBase>")?;
    writeln!(
        out,
        "<EquitySummaryByReportDateInBase accountId=\"U1234567\" currency=\"USD\" reportDate=\"{}\" \
         cash=\"12345.67\" stock=\"987654.32\" total=\"999999.99\" />",
        end.format("%Y%m%d")
    )?;
    writeln!(out, "</EquitySummaryInBase>")?;
    writeln!(out, "<CashReport>")?;
    for (currency, ending) in [
        ("BASE_SUMMARY", "12345.67"),
        ("USD", "10000.00"),
        ("EUR", "2145.10"),
    ] {
        writeln!(
            out,
            "<CashReportCurrency accountId=\"U1234567\" currency=\"{currency}\" endingCash=\"{ending}\" \
             toDate=\"{}\" />",
            end.format("%Y%m%d")
        )?;
    }
    writeln!(out, "</CashReport>")?;
    writeln!(out, "<OpenPositions>")?;
    for instrument in INSTRUMENTS.iter().filter(|i| i.category != "CASH") {
        writeln!(
            out,
            "<OpenPosition accountId=\"U1234567\" currency=\"{}\" fxRateToBase=\"1\" assetCategory=\"{}\" \
             subCategory=\"{}\" symbol=\"{}\" description=\"{}\" conid=\"{}\" listingExchange=\"{}\" \
             underlyingSymbol=\"{}\" multiplier=\"{}\" strike=\"{}\" expiry=\"{}\" putCall=\"{}\" \
             reportDate=\"{}\" position=\"10\" markPrice=\"{}\" positionValue=\"{}\" \
             costBasisMoney=\"{}\" side=\"Long\" levelOfDetail=\"SUMMARY\" />",
            instrument.currency,
            instrument.category,
            instrument.sub_category,
            instrument.symbol,
            instrument.description,
            instrument.conid,
            instrument.exchange,
            instrument.underlying,
            instrument.multiplier,
            instrument.strike,
            instrument.expiry,
            instrument.put_call,
            end.format("%Y%m%d"),
            money(i64::try_from(instrument.price_cents).unwrap_or(0)),
            money(
                i64::try_from(instrument.price_cents).unwrap_or(0)
                    * 10
                    * i64::from(instrument.multiplier)
            ),
            money(
                i64::try_from(instrument.price_cents).unwrap_or(0)
                    * 9
                    * i64::from(instrument.multiplier)
            ),
        )?;
    }
    writeln!(out, "</OpenPositions>")?;
    writeln!(out, "<Trades>")?;
    for i in 0..trades {
        trade_row(&mut out, &mut rng, i, day_of(i, trades))?;
    }
    writeln!(out, "</Trades>")?;
    writeln!(out, "<CashTransactions>")?;
    for i in 0..cash {
        cash_row(&mut out, &mut rng, i, day_of(i, cash))?;
    }
    writeln!(out, "</CashTransactions>")?;
    writeln!(out, "</FlexStatement>")?;
    writeln!(out, "</FlexStatements>")?;
    writeln!(out, "</FlexQueryResponse>")?;
    Ok(out)
}

/// Peak resident set size in kB (`VmHWM`), where `/proc` has it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Error> {
    let args = args()?;
    let started = Instant::now();
    let xml = generate(args.trades, args.cash)?;
    let generated_in = started.elapsed();
    if let Some(path) = &args.write {
        std::fs::write(path, &xml)?;
        println!(
            "wrote {path}: {} bytes, {} trades, {} cash transactions ({:.0} ms)",
            xml.len(),
            args.trades,
            args.cash,
            generated_in.as_secs_f64() * 1e3
        );
        return Ok(());
    }
    let bytes = xml.into_bytes();
    let map = CategoryMap::default();
    let mut times: Vec<Duration> = Vec::with_capacity(args.iterations);
    let mut records = 0usize;
    let mut rejected = 0usize;
    let mut holdings = 0usize;
    for _ in 0..args.iterations {
        let start = Instant::now();
        let statement = parse_statement(std::hint::black_box(&bytes), &map)?;
        times.push(start.elapsed());
        records = statement
            .accounts
            .iter()
            .map(|a| a.data.transactions.len())
            .sum();
        rejected = statement.accounts.iter().map(|a| a.rejected.len()).sum();
        holdings = statement
            .accounts
            .iter()
            .map(|a| a.data.holdings.len())
            .sum();
        drop(std::hint::black_box(statement));
    }
    times.sort();
    let best = times.first().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(1);
    let per_second = |t: Duration| records as f64 / t.as_secs_f64().max(f64::EPSILON);
    println!(
        "bytes:        {} ({:.1} MiB)",
        bytes.len(),
        bytes.len() as f64 / 1048576.0
    );
    println!(
        "records:      {records} transactions ({} trades + {} cash), {holdings} holdings, {rejected} rejected",
        args.trades, args.cash
    );
    println!("iterations:   {}", times.len());
    println!(
        "parse time:   best {:.1} ms, median {:.1} ms, mean {:.1} ms",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    );
    println!(
        "throughput:   {:.0} records/s best, {:.0} records/s median, {:.0} MiB/s best",
        per_second(best),
        per_second(median),
        bytes.len() as f64 / 1048576.0 / best.as_secs_f64().max(f64::EPSILON)
    );
    match peak_rss_kb() {
        Some(kb) => println!("peak RSS:     {:.1} MiB", kb as f64 / 1024.0),
        None => println!("peak RSS:     unknown (no /proc/self/status)"),
    }
    Ok(())
}
