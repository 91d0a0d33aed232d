//! The shop feed's batches (tests/fixtures/shop's files), generated: the second project of
//! the tests, locally (tests/feed.rs) and on Snowflake (functions/snowflake/tests).

use std::path::Path;

/// A copy of the shop project (tests/fixtures/shop) at `to`, for a test to edit or ship.
#[allow(dead_code)] // not every test crate that includes this file copies the project
pub fn copy_shop_project(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                copy(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/shop"),
        to,
    );
}

/// A batch of the shop feed: `customers` customers, three orders each but the last customer
/// (none), two products. Names carry the delimiter and quotes, one order has no note.
pub fn land_shop(dir: &Path, customers: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut c = String::from("customer_id;name;signed_up;vip\n");
    let mut o = String::from("\"Order ID\";\"Customer ID\";\"Amount\";\"Note\"\n");
    let mut order = 100;
    for i in 1..=customers {
        let name = match i % 3 {
            0 => format!("\"Cy; the {i}th\""),
            1 => format!("\"Ann \"\"{i}\"\"\""),
            _ => format!("Bo {i}"),
        };
        c += &format!("{i};{name};2026-0{}-1{};{}\n", 1 + i % 9, i % 10, i % 2 == 0);
        if i == customers {
            continue;
        }
        for k in 0..3 {
            order += 1;
            let note = if k == 1 { String::new() } else { format!("note {order}") };
            o += &format!("{order};{i};{}.{:02};{note}\n", 5 + k * i, (order * 7) % 100);
        }
    }
    std::fs::write(dir.join("customers.csv"), c).unwrap();
    std::fs::write(dir.join("orders.csv"), o).unwrap();
    std::fs::write(
        dir.join("products.csv"),
        "sku;title;price\nA-1;Lamp;19.9\nB-2;\"Desk; oak\";120\n",
    )
    .unwrap();
}
