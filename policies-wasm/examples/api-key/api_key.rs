//! The api-key example policy in Rust, against Portico's policy ABI 1.1
//! (policies-wasm/abi/README.md), built by Debian's rustc for wasm32-unknown-unknown with no crates
//! (see policies-wasm/build.ts for the command). Parameters: `keys` (comma-separated accepted keys)
//! and `header` (default x-api-key). A request whose header holds a listed key goes on without that
//! header and with `x-api-key-index: N` (the key's position, from 1); any other request is answered
//! 401 and a warning is logged.

#[link(wasm_import_module = "extism:host/env")]
extern "C" {
    fn length(block: u64) -> u64;
    fn config_get(key_block: u64) -> u64;
}

#[link(wasm_import_module = "extism:host/user")]
extern "C" {
    fn portico_block_new(pointer: u32, length: i32) -> u64;
    fn portico_block_copy(block: u64, pointer: u32);
    fn portico_request_header(name: u64) -> u64;
    fn portico_request_header_set(name: u64, value: u64);
    fn portico_request_header_remove(name: u64);
    fn portico_reply(status: i32, body: u64);
    fn portico_reply_header(name: u64, value: u64);
    fn portico_log(level: i32, message: u64);
}

/// A string in this module's memory as host functions take it (ABI 1.1): bit 63, length, pointer.
/// The bytes must stay alive until the host call returns.
fn text(value: &str) -> u64 {
    (1u64 << 63) | ((value.len() as u64) << 32) | (value.as_ptr() as u32 as u64)
}

/// A string the host returned (an Extism block), or None for block 0.
fn from_block(block: u64) -> Option<String> {
    if block == 0 {
        return None;
    }
    let mut bytes = vec![0u8; unsafe { length(block) } as usize];
    unsafe { portico_block_copy(block, bytes.as_mut_ptr() as u32) };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn config(key: &str) -> Option<String> {
    from_block(unsafe { config_get(portico_block_new(key.as_ptr() as u32, key.len() as i32)) })
}

/// Whether `given` equals `secret`, compared in constant time: every byte of `given` is compared
/// whatever the first difference (`==` stops at it), so how long a refusal takes does not tell how
/// much of a key a guess got right. The accumulator is written through a volatile store so the
/// compiler cannot turn the loop back into one that stops early.
fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return given.is_empty();
    }
    let mut difference: usize = given.len() ^ secret.len();
    for (i, byte) in given.iter().enumerate() {
        // Past the secret's end, its first byte stands in; a longer `given` is unequal through the lengths.
        let j = if i < secret.len() { i } else { 0 };
        let next = difference | usize::from(byte ^ secret[j]);
        unsafe { core::ptr::write_volatile(&mut difference, next) };
    }
    difference == 0
}

/// The position (from 0) of `value` among the comma-separated `keys`: every key is compared, each in
/// constant time, and the first match wins.
fn position(keys: &str, value: &str) -> Option<usize> {
    let mut found = None;
    for (i, key) in keys.split(',').enumerate() {
        let key = key.trim_matches(|c| c == ' ' || c == '\t');
        if constant_time_eq(value.as_bytes(), key.as_bytes()) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[no_mangle]
pub extern "C" fn portico_abi_version() -> i32 {
    0x10001
}

#[no_mangle]
pub extern "C" fn on_request() -> i32 {
    let header = config("header").unwrap_or_else(|| "x-api-key".to_string());
    let keys = config("keys").unwrap_or_default();
    let value = from_block(unsafe { portico_request_header(text(&header)) });
    let index = value.filter(|v| !v.is_empty()).and_then(|v| position(&keys, &v));
    unsafe {
        match index {
            Some(i) => {
                let number = (i + 1).to_string();
                portico_request_header_remove(text(&header));
                portico_request_header_set(text("x-api-key-index"), text(&number));
            }
            None => {
                portico_log(2, text("rejected a request without a valid API key"));
                portico_reply_header(text("content-type"), text("application/json"));
                portico_reply(401, text("{\"error\":\"a valid API key is required\"}"));
            }
        }
    }
    0
}
