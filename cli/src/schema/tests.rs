use std::path::{Path, PathBuf};

use livehook::event::{EventType, data_schema_path};
use livehook::providers;

use super::Catalog;
use super::readme::{
    EXAMPLE_PROVIDER, FilterExample, README_BEGIN, README_END, filter_examples, replace_generated,
};

/// The repository's `schemas/` folder (for the tests).
fn repository_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("schemas")
}

#[test]
fn every_type_has_a_schema_and_the_samples_cover_every_provider() {
    let catalog = Catalog::generate().unwrap();
    let files = catalog.files().unwrap();
    for t in EventType::ALL {
        assert!(
            files
                .iter()
                .any(|(p, _)| p == Path::new(&data_schema_path(t))),
            "{t}"
        );
    }
    for (position, provider) in providers::ALL.iter().enumerate() {
        assert!(
            catalog.seen.iter().any(|s| s.contains_key(&position)),
            "{} sends no type in the catalog",
            provider.name()
        );
    }
    let started = catalog.seen(EventType::StreamStarted);
    let lal = providers::ALL
        .iter()
        .position(|p| p.name() == "lal")
        .unwrap();
    assert!(started[&lal].fields.contains("stream"));
    assert!(started[&lal].provider_events.contains("on_pub_start"));
}

#[test]
fn the_committed_catalog_is_what_the_code_generates() {
    // The same check as `make lint`'s diff, inside `cargo test`.
    let dir = repository_schemas();
    for (relative, text) in Catalog::generate().unwrap().files().unwrap() {
        let path = dir.join(&relative);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is stale: run `make schemas` (livehook schema --out schemas --readme README.md)",
            path.display()
        );
    }
}

#[test]
fn the_readme_part_is_replaced_between_its_markers() {
    let text = format!("a\n{README_BEGIN}\nold\n{README_END}\nb\n");
    assert_eq!(
        replace_generated(&text, "new\n").unwrap(),
        format!("a\n{README_BEGIN}\nnew\n{README_END}\nb\n")
    );
    assert!(replace_generated("no markers", "x").is_err());
    let reversed = format!("{README_END}\n{README_BEGIN}");
    assert!(replace_generated(&reversed, "x").is_err());
}

#[test]
fn only_string_list_policies_go_into_the_sns_binding() {
    let filters = filter_examples();
    assert!(filters[0].string_lists_only());
    assert!(providers::by_name(EXAMPLE_PROVIDER).is_some());
    assert!(!filters.iter().all(FilterExample::string_lists_only));
}
