//! Compile-fail tests of `#[task]`'s diagnostics, and compile-pass tests of its accepted forms.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
