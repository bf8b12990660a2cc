// The api-key example policy in C, against Portico's policy ABI 1.1 (policies-wasm/abi/README.md),
// with no libc: clang --target=wasm32 -nostdlib (see policies-wasm/build.ts for the whole command).
// Parameters: `keys` (comma-separated accepted keys) and `header` (default x-api-key). A request
// whose header holds a listed key goes on without that header and with `x-api-key-index: N` (the
// key's position, from 1); any other request is answered 401 and a warning is logged.
typedef unsigned char u8;
typedef int i32;
typedef unsigned int u32;
typedef unsigned long long u64;

#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

// Extism's kernel: the length of a block the host returned, and the policy's parameters.
IMPORT("extism:host/env", "length") u64 extism_length(u64 block);
IMPORT("extism:host/env", "config_get") u64 extism_config_get(u64 key_block);
// Portico's host functions.
IMPORT("extism:host/user", "portico_block_new") u64 portico_block_new(u32 pointer, i32 length);
IMPORT("extism:host/user", "portico_block_copy") void portico_block_copy(u64 block, u32 pointer);
IMPORT("extism:host/user", "portico_request_header") u64 portico_request_header(u64 name);
IMPORT("extism:host/user", "portico_request_header_set") void portico_request_header_set(u64 name, u64 value);
IMPORT("extism:host/user", "portico_request_header_remove") void portico_request_header_remove(u64 name);
IMPORT("extism:host/user", "portico_reply") void portico_reply(i32 status, u64 body);
IMPORT("extism:host/user", "portico_reply_header") void portico_reply_header(u64 name, u64 value);
IMPORT("extism:host/user", "portico_log") void portico_log(i32 level, u64 message);

// A string in this module's memory, as host functions take it (ABI 1.1): bit 63, length, pointer.
static u64 ref(const char *text, u32 length) {
  return (1ULL << 63) | ((u64)length << 32) | (u64)(u32)text;
}

static u32 length_of(const char *text) {
  u32 n = 0;
  while (text[n]) n++;
  return n;
}

#define LITERAL(text) ref(text, sizeof(text) - 1)

// Strings the host returns are copied here; a longer one traps (the host caps headers at 16 KiB).
static char header_value[16 * 1024];
static char keys[16 * 1024];
static char header_name[256];

// Copies a block into `buffer`; returns its length, or -1 when absent.
static i32 copy_block(u64 block, char *buffer, u32 size) {
  if (block == 0) return -1;
  u64 length = extism_length(block);
  if (length > size) __builtin_trap();
  portico_block_copy(block, (u32)buffer);
  return (i32)length;
}

static i32 config(const char *key, char *buffer, u32 size) {
  return copy_block(extism_config_get(portico_block_new((u32)key, (i32)length_of(key))), buffer, size);
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

// Whether the `length` bytes of `given` equal the `secret_length` bytes of `secret`, compared in
// constant time: every byte of `given` is compared whatever the first difference, so how long a
// refusal takes does not tell how much of a key a guess got right. The accumulator is volatile so
// the compiler cannot turn the loop back into one that stops early.
static int constant_time_equal(const char *given, i32 length, const char *secret, i32 secret_length) {
  if (secret_length == 0) return length == 0;
  volatile u32 difference = (u32)(length ^ secret_length);
  for (i32 i = 0; i < length; i++) {
    // Past the secret's end, its first byte stands in; a longer `given` is unequal through the lengths.
    i32 j = i < secret_length ? i : 0;
    difference |= (u32)((u8)given[i] ^ (u8)secret[j]);
  }
  return difference == 0;
}

// The 1-based position of `value` in the comma-separated `list`, or 0. Every key is compared (the
// first match wins), each in constant time.
static i32 position(const char *list, i32 list_length, const char *value, i32 value_length) {
  i32 index = 0, found = 0, start = 0;
  while (start <= list_length) {
    i32 end = start;
    while (end < list_length && list[end] != ',') end++;
    i32 a = start, b = end;
    while (a < b && is_space(list[a])) a++;
    while (b > a && is_space(list[b - 1])) b--;
    index++;
    if (b > a && constant_time_equal(value, value_length, list + a, b - a) && found == 0) found = index;
    start = end + 1;
  }
  return found;
}

EXPORT("portico_abi_version") i32 portico_abi_version(void) { return 0x10001; }

EXPORT("on_request") i32 on_request(void) {
  i32 name_length = config("header", header_name, sizeof header_name);
  if (name_length < 0) {
    const char fallback[] = "x-api-key";
    for (name_length = 0; fallback[name_length]; name_length++) header_name[name_length] = fallback[name_length];
  }
  i32 keys_length = config("keys", keys, sizeof keys);
  u64 name = ref(header_name, (u32)name_length);
  i32 value_length = copy_block(portico_request_header(name), header_value, sizeof header_value);
  i32 index = value_length > 0 && keys_length > 0 ? position(keys, keys_length, header_value, value_length) : 0;
  if (index == 0) {
    portico_log(2, LITERAL("rejected a request without a valid API key"));
    portico_reply_header(LITERAL("content-type"), LITERAL("application/json"));
    portico_reply(401, LITERAL("{\"error\":\"a valid API key is required\"}"));
    return 0;
  }
  char digits[12];
  u32 at = sizeof digits;
  do {
    digits[--at] = (char)('0' + index % 10);
    index /= 10;
  } while (index > 0);
  portico_request_header_remove(name);
  portico_request_header_set(LITERAL("x-api-key-index"), ref(digits + at, sizeof digits - at));
  return 0;
}
