//! File import: OFX/QFX and CSV through `POST /api/accounts/{id}/import`.

use reqwest::StatusCode;
use serde_json::json;
use tributary_tests::{TestApp, TestUser, spawn_app};

use crate::pipeline_support::set_profile;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../connectors/tests/fixtures/files/"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).expect("fixture exists")
}

async fn count(app: &TestApp, token: &str, account: &str) -> usize {
    let r = app
        .get(
            &format!("/api/accounts/{account}/transactions?limit=200"),
            token,
        )
        .await;
    r.body["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_ofx_statement_imports_once_and_a_reimport_inserts_nothing() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    let (status, job) = app
        .upload(t, &account, "", "bank.ofx", fixture("bank_v1.ofx"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["trigger"], "upload");
    assert_eq!(job["source"], "ofx");
    let inserted = job["inserted"].as_i64().expect("inserted");
    assert!(inserted > 0);
    assert_eq!(count(&app, t, &account).await, inserted as usize);
    let (status, again) = app
        .upload(t, &account, "", "bank.ofx", fixture("bank_v1.ofx"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], inserted, "{again}");
    assert_eq!(count(&app, t, &account).await, inserted as usize);
    let jobs = app
        .get(
            &format!("/api/import-jobs?account_id={account}&source=ofx"),
            t,
        )
        .await;
    assert_eq!(jobs.body["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_dry_run_reports_what_would_happen_and_writes_nothing() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Broker").await;
    let (status, preview) = app
        .upload(
            t,
            &account,
            "?dry_run=true",
            "inv.ofx",
            fixture("investment_v2.ofx"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert!(
        preview["would_insert"].as_u64().expect("n") > 0,
        "{preview}"
    );
    assert!(!preview["records"].as_array().expect("records").is_empty());
    assert_eq!(count(&app, t, &account).await, 0);
    let jobs = app.get("/api/import-jobs", t).await;
    assert_eq!(
        jobs.body["items"].as_array().map(Vec::len),
        Some(0),
        "a dry run leaves no job"
    );
    // The real import then stores the positions the statement reports.
    let (status, job) = app
        .upload(t, &account, "", "inv.ofx", fixture("investment_v2.ofx"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let holdings = app
        .get(&format!("/api/accounts/{account}/holdings"), t)
        .await;
    assert!(!holdings.body.as_array().expect("holdings").is_empty());
}

#[tokio::test]
async fn broken_files_are_refused_with_a_clear_error_and_nothing_written() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    for (name, bytes) in [
        ("garbage.bin", fixture("garbage.bin")),
        ("truncated.ofx", fixture("truncated_v1.ofx")),
        ("empty.csv", Vec::new()),
    ] {
        let (status, body) = app.upload(t, &account, "", name, bytes).await;
        assert!(status.is_client_error(), "{name}: {status} {body}");
        assert_eq!(body["code"], "VALIDATION", "{name}: {body}");
        assert!(
            body["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with("file"),
            "{name}: {body}"
        );
    }
    // A CSV needs the account's import profile first.
    let (status, body) = app
        .upload(t, &account, "", "bank.csv", fixture("utf8_bank.csv"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "import_profile");
    assert!(
        body.get("instance").is_none(),
        "refused before any job: {body}"
    );
    assert_eq!(count(&app, t, &account).await, 0);
    let (status, body) = app
        .upload(t, &account, "?format=xls", "x", b"a".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "format");
}

#[tokio::test]
async fn a_csv_imports_with_the_accounts_profile_and_bad_rows_reject_or_skip() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    let profile = json!({
        "columns": {"date": "Date", "amount": "Amount", "currency": "Currency", "description": "Description", "id": "Reference"},
        "default_currency": "USD"
    });
    let r = app
        .put(
            &format!("/api/accounts/{account}/import-profile"),
            t,
            profile.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .get(&format!("/api/accounts/{account}/import-profile"), t)
        .await;
    assert_eq!(r.body["columns"]["date"], "Date");
    let r = app
        .put(
            &format!("/api/accounts/{account}/import-profile"),
            t,
            json!({"columns": {}, "bogus": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    let (status, job) = app
        .upload(t, &account, "", "bank.csv", fixture("utf8_bank.csv"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    let n = count(&app, t, &account).await;
    assert!(n >= 3, "{n}");
    // Cash holdings follow from the transactions of an account without an integration.
    let holdings = app
        .get(&format!("/api/accounts/{account}/holdings"), t)
        .await;
    assert!(
        holdings
            .body
            .as_array()
            .expect("h")
            .iter()
            .any(|h| h["asset"]["asset_id"] == "CASH:USD"),
        "{}",
        holdings.text
    );

    // A file with a bad row: rejected as a whole by default, good rows kept with skip.
    let bad = b"Date,Description,Amount,Currency,Reference\n2024-02-01,ok,10.00,USD,B-1\n2024-02-30,bad date,5.00,USD,B-2\n".to_vec();
    let (status, body) = app.upload(t, &account, "", "bad.csv", bad.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("line 3"),
        "{body}"
    );
    assert_eq!(
        count(&app, t, &account).await,
        n,
        "nothing written on reject"
    );
    let (status, job) = app
        .upload(t, &account, "?on_error=skip", "bad.csv", bad)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "partial");
    assert_eq!(job["inserted"], 1);
    assert_eq!(job["failed"], 1);
    assert_eq!(job["errors"][0]["line"], 3, "{job}");
    assert_eq!(count(&app, t, &account).await, n + 1);
}

#[tokio::test]
async fn another_users_account_cannot_be_imported_into() {
    let app = spawn_app().await;
    let owner = TestUser::register(&app).await;
    let other = TestUser::register(&app).await;
    let account = app.create_account(owner.token(), "Mine").await;
    let (status, body) = app
        .upload(
            other.token(),
            &account,
            "",
            "bank.ofx",
            fixture("bank_v1.ofx"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let r = app
        .get(
            &format!("/api/accounts/{account}/import-profile"),
            other.token(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .put(
            &format!("/api/accounts/{account}/import-profile"),
            other.token(),
            json!({"columns": {"date": "Date", "amount": "Amount"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, owner.token(), &account).await, 0);
}

/// Rows are written in date order (it keeps large imports' index writes local): the ledger
/// must look exactly as if they were written in file order. Same-date rows list in reverse
/// file order (newest id first), identical rows without an id are both kept, and a re-import
/// matches every row again.
#[tokio::test]
async fn a_csv_out_of_date_order_lists_like_the_file_and_reimports_as_duplicates() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = app.create_account(t, "Checking").await;
    let profile = json!({
        "columns": {"date": "Date", "amount": "Amount", "description": "Description"},
        "default_currency": "USD"
    });
    set_profile(&app, t, &account, profile).await;
    let csv = b"Date,Description,Amount\n\
2024-03-02,first of the 2nd,1.00\n\
2024-03-01,only of the 1st,2.00\n\
2024-03-03,first of the 3rd,3.00\n\
2024-03-02,second of the 2nd,4.00\n\
2024-03-03,twin,5.00\n\
2024-03-03,twin,5.00\n"
        .to_vec();
    let (status, job) = app.upload(t, &account, "", "bank.csv", csv.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["inserted"], 6, "{job}");
    let r = app
        .get(&format!("/api/accounts/{account}/transactions?limit=50"), t)
        .await;
    let listed: Vec<(String, String)> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["trade_date"].as_str().unwrap_or_default().to_string(),
                i["description"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expect = [
        ("2024-03-03", "twin"),
        ("2024-03-03", "twin"),
        ("2024-03-03", "first of the 3rd"),
        ("2024-03-02", "second of the 2nd"),
        ("2024-03-02", "first of the 2nd"),
        ("2024-03-01", "only of the 1st"),
    ]
    .map(|(d, s)| (d.to_string(), s.to_string()));
    assert_eq!(listed, expect, "{}", r.text);
    // Paging through the same order with a small page size sees each row once.
    let mut seen = Vec::new();
    let mut url = format!("/api/accounts/{account}/transactions?limit=2");
    loop {
        let page = app.get(&url, t).await;
        for i in page.body["items"].as_array().expect("items") {
            seen.push(i["description"].as_str().unwrap_or_default().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => url = format!("/api/accounts/{account}/transactions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        expect.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>()
    );
    let (status, again) = app.upload(t, &account, "", "bank.csv", csv).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["inserted"], 0, "{again}");
    assert_eq!(again["duplicates"], 6, "{again}");
}

/// A new account whose CSV profile reads `Date,Description,Amount,Currency,Reference`.
async fn bank_account(app: &TestApp, token: &str) -> String {
    let account = app.create_account(token, "Checking").await;
    let profile = json!({"columns": {"date": "Date", "amount": "Amount", "currency": "Currency",
                                     "description": "Description", "id": "Reference"}});
    set_profile(app, token, &account, profile).await;
    account
}

/// The account's cash holdings as `(asset_id, quantity)` strings, exactly as served.
async fn cash(app: &TestApp, token: &str, account: &str) -> Vec<(String, String)> {
    let r = app
        .get(&format!("/api/accounts/{account}/holdings"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut out: Vec<(String, String)> = r
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter(|h| h["asset"]["class"] == "cash")
        .map(|h| {
            (
                h["asset"]["asset_id"].as_str().expect("id").to_string(),
                h["quantity"]
                    .as_str()
                    .expect("a decimal string")
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn cash_after_csv_imports_adds_up_exactly_with_aliases_and_duplicates() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = bank_account(&app, t).await;
    // Cash the account held before any file: a manual deposit.
    let r = app
        .post(
            &format!("/api/accounts/{account}/transactions"),
            t,
            json!({"type": "deposit", "trade_date": "2024-03-01", "amount": "100.10",
                   "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // New rows only: the import keeps the cash total as it writes. The 100.10 deposit of
    // 2024-03-02 is the manual one seen by the bank (an alias), so it adds nothing.
    let first = b"Date,Description,Amount,Currency,Reference\n\
2024-03-02,Salary,100.10,USD,B-1\n\
2024-03-05,Rent,-0.30,USD,B-2\n\
2024-03-04,Card,0.20,USD,B-3\n\
2024-03-06,Transfer,5.55,EUR,B-4\n"
        .to_vec();
    let (status, job) = app.upload(t, &account, "", "a.csv", first).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["inserted"], 4, "{job}");
    assert_eq!(
        cash(&app, t, &account).await,
        vec![
            ("CASH:EUR".to_string(), "5.55".to_string()),
            ("CASH:USD".to_string(), "100.00".to_string()),
        ],
        "100.10 - 0.30 + 0.20, the aliased salary not counted twice"
    );

    // A statement overlapping the last one: duplicates and one new row.
    let second = b"Date,Description,Amount,Currency,Reference\n\
2024-03-05,Rent,-0.30,USD,B-2\n\
2024-03-07,Interest,0.01,USD,B-5\n"
        .to_vec();
    let (status, job) = app.upload(t, &account, "", "b.csv", second).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(
        (job["inserted"].as_i64(), job["duplicates"].as_i64()),
        (Some(1), Some(1)),
        "{job}"
    );
    assert_eq!(
        cash(&app, t, &account).await,
        vec![
            ("CASH:EUR".to_string(), "5.55".to_string()),
            ("CASH:USD".to_string(), "100.01".to_string()),
        ]
    );
}

/// A CSV of `rows` deposits of 0.01 to 0.99 USD, dated over a year, ids `R-0`… (plus `extra`
/// lines as they are).
fn many_rows(rows: usize, extra: &str) -> Vec<u8> {
    let mut csv = String::from("Date,Description,Amount,Currency,Reference\n");
    for i in 0..rows {
        let day = 1 + i % 28;
        let month = 1 + (i / 28) % 12;
        let cents = 1 + i % 99;
        csv.push_str(&format!(
            "2024-{month:02}-{day:02},Payment {i},0.{cents:02},USD,R-{i}\n"
        ));
    }
    csv.push_str(extra);
    csv.into_bytes()
}

#[tokio::test]
async fn a_file_of_several_batches_imports_every_row_once_and_sums_its_cash_exactly() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let account = bank_account(&app, t).await;
    // Three batches of 20,000; a bad row in the second rejects the whole file.
    let rows = 45_000;
    let bad = many_rows(rows, "2024-02-30,bad,1.00,USD,X-1\n");
    let mut lines: Vec<&[u8]> = bad.split(|b| *b == b'\n').collect();
    let bad_line = lines.len() - 2;
    lines.swap(25_000, bad_line);
    let bad = lines.join(&b'\n');
    let (status, body) = app.upload(t, &account, "", "bad.csv", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        count(&app, t, &account).await,
        0,
        "nothing written on reject"
    );

    // The last batch repeats ids of the first: written once, counted as duplicates.
    let repeats: String = (0..10)
        .map(|i| {
            let cents = 1 + i % 99;
            format!(
                "2024-01-{:02},Payment {i},0.{cents:02},USD,R-{i}\n",
                1 + i % 28
            )
        })
        .collect();
    let (status, job) = app
        .upload(t, &account, "", "many.csv", many_rows(rows, &repeats))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["fetched"], rows + 10, "{job}");
    assert_eq!(job["inserted"], rows, "{job}");
    assert_eq!(job["duplicates"], 10, "{job}");
    assert_eq!(job["processed"], rows + 10, "{job}");
    // 45,000 deposits cycling through 0.01..=0.99: 454 full cycles and 54 more.
    let cycle: u64 = (1..=99).sum();
    let expected = 454 * cycle + (1..=54).sum::<u64>();
    assert_eq!(
        cash(&app, t, &account).await,
        vec![(
            "CASH:USD".to_string(),
            format!("{}.{:02}", expected / 100, expected % 100)
        )]
    );
    // Newest first across batches, the cursor walking the same order as the file's dates.
    let r = app
        .get(
            &format!("/api/transactions?account_id={account}&limit=3"),
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let dates: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["trade_date"].as_str().expect("date"))
        .collect();
    assert_eq!(dates, vec!["2024-12-28"; 3]);

    let (status, job) = app
        .upload(t, &account, "", "many.csv", many_rows(rows, &repeats))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(
        (job["inserted"].as_i64(), job["duplicates"].as_i64()),
        (Some(0), Some(rows as i64 + 10)),
        "{job}"
    );
}
