"""Privacy and security building blocks for the gallery (biometric, special-category data).

One job per module, each usable on its own:

- `private_files`: owner-only folders and files, atomic writes that never follow a symlink.
- `keys`: the 32-byte gallery key and where it lives (env, passphrase, OS keyring, key file).
- `sqlcipher`: the encrypted gallery file (SQLCipher 4): open, migrate, rekey, decrypt.
- `encrypted_gallery`: the above put together in the order that never loses a key or a file.
- `export_crypto`: passphrase-encrypted, streamed export files (AES-256-GCM chunks).
- `audit`: an append-only audit log whose HMAC chain shows edits, deletions and truncation.
- `pin_policy`: which admin PINs are refused, and a lockout state sealed with an HMAC.
- `telemetry`: no phoning home from the native libraries.
- `erase`: what it takes for deleted rows to leave the SQLite files.

Only `kiosk.errors` is imported from the rest of the core, so the integrator can wire these
in one call site at a time.
"""
