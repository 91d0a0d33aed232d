//! # landfall-sample
//!
//! Deterministic synthetic landing files shaped like the real Netflix export: the data of
//! `landfall demo`, `make test` and the benchmarks, so nothing needs the real export.
//!
//! Same columns, same messiness: descriptions quoted with commas, doubled quotes and line
//! breaks; Python-list strings for genres and countries (sometimes `[]`); empty fields;
//! non-ASCII names; about 13 credits per title, a few people credited twice on one title, and
//! the export's two junk credits (role `JUNK`: one without a title id, one for a title that
//! does not exist). The same seed always gives the same bytes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{self, Write};
use std::path::Path;

pub const GENRES: [&str; 19] = [
    "action",
    "animation",
    "comedy",
    "crime",
    "documentation",
    "drama",
    "european",
    "family",
    "fantasy",
    "history",
    "horror",
    "music",
    "reality",
    "romance",
    "scifi",
    "sport",
    "thriller",
    "war",
    "western",
];
const COUNTRIES: [&str; 12] = ["US", "GB", "IN", "JP", "KR", "ES", "FR", "DE", "BR", "MX", "CA", "NG"];
const CERTS: [&str; 11] = [
    "TV-MA", "R", "PG-13", "TV-14", "PG", "TV-PG", "TV-Y", "TV-Y7", "G", "TV-G", "NC-17",
];
const FIRST: [&str; 24] = [
    "Ana",
    "José",
    "Zoë",
    "Björn",
    "Chloé",
    "Łukasz",
    "Mónica",
    "Søren",
    "Hiroshi",
    "Ji-woo",
    "Priya",
    "Kwame",
    "Emma",
    "Liam",
    "Noah",
    "Olivia",
    "François",
    "Ümit",
    "Renée",
    "Dmitri",
    "Aoife",
    "Mateus",
    "Siobhán",
    "Chidi",
];
const LAST: [&str; 24] = [
    "García",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Smith",
    "Kowalski",
    "Núñez",
    "Johansson",
    "Kim",
    "Patel",
    "Okafor",
    "Rossi",
    "Dubois",
    "Silva",
    "Nguyen",
    "Brown",
    "Ivanova",
    "Jensen",
    "Lefèvre",
    "Yılmaz",
    "Murphy",
    "Chen",
    "Haddad",
    "Wright",
];
const WORDS: [&str; 32] = [
    "the", "last", "night", "city", "of", "dreams", "a", "secret", "family", "war", "love", "in", "time", "lost",
    "river", "king", "story", "beyond", "world", "house", "dark", "summer", "road", "ghost", "heart", "little", "new",
    "island", "queen", "fire", "blue", "empire",
];

/// How many titles the real export has; `--titles` defaults to it.
pub const REAL_TITLES: usize = 6137;

fn pick<'a, R: Rng>(r: &mut R, xs: &[&'a str]) -> &'a str {
    xs[r.random_range(0..xs.len())]
}

fn words<R: Rng>(r: &mut R, n: usize) -> String {
    (0..n).map(|_| pick(r, &WORDS)).collect::<Vec<_>>().join(" ")
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quote a CSV field when it needs it (or always, as the export does for some columns).
fn field(s: &str, always: bool) -> String {
    if always || s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn py_list<R: Rng>(r: &mut R, pool: &[&str], max: usize, empty_per_mille: u32) -> String {
    if r.random_range(0..1000) < empty_per_mille {
        return "[]".into();
    }
    let n = r.random_range(1..=max);
    let mut items: Vec<&str> = Vec::new();
    while items.len() < n {
        let g = pick(r, pool);
        if !items.contains(&g) {
            items.push(g);
        }
    }
    format!(
        "[{}]",
        items.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ")
    )
}

/// What was written: the counts and the facts tests check the warehouse's answers against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub titles: usize,
    /// Data records of `credits.csv`, the two junk credits included (always the last two).
    pub credits: usize,
    /// The id on the first data line of `titles.csv`.
    pub first_title_id: String,
    /// The smallest and largest release year written.
    pub years: (u32, u32),
}

/// Write `titles.csv` and `credits.csv` for `titles` titles into `dir`.
pub fn generate(dir: &Path, titles: usize, seed: u64) -> io::Result<Generated> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tw = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("titles.csv"))?);
    let mut cw = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("credits.csv"))?);
    writeln!(
        tw,
        "id,title,type,description,release_year,age_certification,runtime,genres,production_countries,seasons,imdb_id,imdb_score,imdb_votes,tmdb_popularity,tmdb_score"
    )?;
    writeln!(cw, "person_id,id,name,character,role")?;
    // A pool of people sized so that actors recur across titles, as in the real data.
    let people = (titles * 6).max(50);
    let mut credits = 0usize;
    let mut first_title_id = String::new();
    let mut years = (u32::MAX, 0);
    for i in 0..titles {
        let r = &mut rng;
        let show = r.random_range(0..100) < 35;
        let id = format!(
            "{}{}",
            if show { "ts" } else { "tm" },
            10_000 + i * 7 + r.random_range(0..7)
        );
        let nw = r.random_range(1..5);
        let title = title_case(&words(r, nw));
        let mut desc = format!(
            "{}, {} \"{}\" {}.",
            title_case(&words(r, 3)),
            {
                let k = r.random_range(5..18);
                words(r, k)
            },
            words(r, 2),
            words(r, 6)
        );
        if r.random_range(0..150) == 0 {
            desc.push_str(&format!("\n{}", words(r, 5)));
        }
        let desc = if r.random_range(0..200) == 0 {
            String::new()
        } else {
            desc
        };
        let year: u32 = if r.random_range(0..10) < 7 {
            r.random_range(2010..=2023)
        } else {
            r.random_range(1945..2010)
        };
        years = (years.0.min(year), years.1.max(year));
        if i == 0 {
            first_title_id = id.clone();
        }
        let cert = if r.random_range(0..100) < 45 {
            ""
        } else {
            pick(r, &CERTS)
        };
        let runtime = if show {
            r.random_range(20..70)
        } else {
            r.random_range(60..180)
        };
        let genres = py_list(r, &GENRES, 4, 9);
        let countries = py_list(r, &COUNTRIES, 2, 30);
        let seasons = if show {
            format!("{}.0", r.random_range(1..9))
        } else {
            String::new()
        };
        let has_imdb = r.random_range(0..100) < 92;
        let imdb_id = if has_imdb {
            format!("tt{:07}", r.random_range(100_000..9_999_999))
        } else {
            String::new()
        };
        let imdb_score = if has_imdb {
            format!("{:.1}", r.random_range(15..95) as f64 / 10.0)
        } else {
            String::new()
        };
        let imdb_votes = if has_imdb {
            format!("{}.0", r.random_range(5..900_000))
        } else {
            String::new()
        };
        let tmdb_pop = format!("{:.3}", r.random_range(600..400_000) as f64 / 1000.0);
        let tmdb_score = if r.random_range(0..100) < 95 {
            format!("{:.1}", r.random_range(10..100) as f64 / 10.0)
        } else {
            String::new()
        };
        writeln!(
            tw,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            id,
            field(&title, false),
            if show { "SHOW" } else { "MOVIE" },
            field(&desc, !desc.is_empty()),
            year,
            cert,
            runtime,
            field(&genres, genres.contains(',')),
            field(&countries, countries.contains(',')),
            seasons,
            imdb_id,
            imdb_score,
            imdb_votes,
            tmdb_pop,
            tmdb_score
        )?;
        let n = r.random_range(1..=25);
        let mut used: Vec<usize> = Vec::with_capacity(n);
        for k in 0..n {
            let director = k == 0 && r.random_range(0..100) < 60;
            // Popular people are picked more often: square a uniform draw.
            let second_role = k > 1 && r.random_range(0..300) == 0;
            let person = if second_role {
                used[used.len() - 1] // the same person twice on one title, as a second character
            } else {
                loop {
                    let u: f64 = r.random();
                    let p = 1000 + ((u * u) * people as f64) as usize;
                    if !used.contains(&p) {
                        break p;
                    }
                }
            };
            used.push(person);
            let name = format!(
                "{} {}",
                FIRST[person % FIRST.len()],
                LAST[(person / FIRST.len()) % LAST.len()]
            );
            let character = if director {
                String::new()
            } else {
                match r.random_range(0..20) {
                    0 => format!(
                        "{} \"{}\" {}",
                        pick(r, &FIRST),
                        title_case(pick(r, &WORDS)),
                        pick(r, &LAST)
                    ),
                    1 => format!("{}, {}", title_case(pick(r, &WORDS)), title_case(pick(r, &WORDS))),
                    2 => String::new(),
                    _ => format!("{} {}", pick(r, &FIRST), pick(r, &LAST)),
                }
            };
            let character = if second_role {
                format!("{character} (voice {k})")
            } else {
                character
            };
            writeln!(
                cw,
                "{},{},{},{},{}",
                person,
                id,
                field(&name, false),
                field(&character, false),
                if director { "DIRECTOR" } else { "ACTOR" }
            )?;
            credits += 1;
        }
    }
    // The export's two junk credits.
    writeln!(cw, "0000000,,,,JUNK")?;
    writeln!(cw, "100000,tm12345,Junk Record,,JUNK")?;
    credits += 2;
    tw.flush()?;
    cw.flush()?;
    Ok(Generated {
        titles,
        credits,
        first_title_id,
        years,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_line(p: &Path, n: usize) -> String {
        std::fs::read_to_string(p).unwrap().lines().nth(n).unwrap().to_string()
    }

    #[test]
    fn deterministic_and_well_formed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ga = generate(a.path(), 300, 7).unwrap();
        generate(b.path(), 300, 7).unwrap();
        for f in ["titles.csv", "credits.csv"] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap()
            );
        }
        let t = landfall_core::csvcheck::check_csv(
            "titles.csv",
            std::fs::File::open(a.path().join("titles.csv")).unwrap(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(t.rows, 300);
        // The generated files keep the flagship project's contract.
        let project = landfall_dbt::Project::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../transform")).unwrap();
        let contract = landfall_core::contract::Contract::of(&project).unwrap();
        assert_eq!(t.first_record, contract.file("titles").unwrap().required);
        let c = landfall_core::csvcheck::check_csv(
            "credits.csv",
            std::fs::File::open(a.path().join("credits.csv")).unwrap(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(c.rows as usize, ga.credits);
        assert_eq!(
            text_line(&a.path().join("titles.csv"), 1).split(',').next(),
            Some(ga.first_title_id.as_str())
        );
        assert!(
            ga.years.0 >= 1945 && ga.years.1 <= 2023 && ga.years.0 < ga.years.1,
            "{:?}",
            ga.years
        );
        let per_title = ga.credits as f64 / 300.0;
        assert!((10.0..16.0).contains(&per_title), "{per_title} credits per title");
        let text = std::fs::read_to_string(a.path().join("titles.csv")).unwrap();
        assert!(text.contains("\"\""), "doubled quotes");
        assert!(text.contains("[]"), "empty genre lists");
        let credits = std::fs::read_to_string(a.path().join("credits.csv")).unwrap();
        assert!(!credits.is_ascii(), "non-ASCII names");
        let other = tempfile::tempdir().unwrap();
        generate(other.path(), 300, 8).unwrap();
        assert_ne!(
            std::fs::read(a.path().join("titles.csv")).unwrap(),
            std::fs::read(other.path().join("titles.csv")).unwrap()
        );
    }
}
