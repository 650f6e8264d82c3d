//! Compiles `tauri.conf.json` (beside this file, Tauri's default place) into
//! the reference app. No capability files: a Tauri 2 app's own commands are
//! allowed to its windows by default, and the page calls only its own.

fn main() {
    tauri_build::build();
}
