#[test]
fn committed_schema_matches_the_server() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql")).unwrap();
    assert!(
        committed == crm_api::sdl(),
        "schema.graphql is out of date: run `cargo run -q --bin crm -- schema > schema.graphql` and commit it"
    );
}
