"""Privacy and security building blocks for the gallery (biometric, special-category data).

One job per module, each usable on its own:

- `private_files`: owner-only folders and files, atomic writes that never follow a symlink.
- `keys`: the 32-byte gallery key and where it lives (env, passphrase, OS keyring, key file).
- `sqlcipher`: the encrypted gallery file (SQLCipher 4): open, migrate, rekey, decrypt.
- `encrypted_gallery`: the above put together in the order that never loses a key or a file.
- `export_crypto`: passphrase-encrypted, streamed export files (AES-256-GCM chunks).
- `audit`: an append-only audit log whose HMAC chain shows edits, deletions and truncation.
- `audit_anchor`: what this computer last saw of a gallery, so a restored older copy shows.
- `pin_policy`: which admin PINs are refused, and a lockout state sealed with an HMAC.
- `telemetry`: no phoning home from the native libraries.
- `erase`: what it takes for deleted rows to leave the SQLite files.

Only `kiosk.errors` is imported from the rest of the core, and everything works on plain
DB-API connections and paths, so the integrator can wire these in one call site at a time.

Call orders (each step's module documents the why):

Process start::

    telemetry.disable_native_telemetry()      # before anything imports onnxruntime
    private_files.set_private_umask()
    private_files.ensure_private_dir(data_dir)

Open an encrypted gallery (new or existing)::

    conn, key = encrypted_gallery.open_gallery(db_path, create=True)
    erase.enable_secure_delete(conn)          # then WAL, foreign keys... as today

Migrate a plaintext gallery (kiosk stopped; refused while another process has it open)::

    key = encrypted_gallery.migrate_to_encrypted(db_path)   # key stored first, then verified

Log an admin action, in the gallery's own transaction::

    log = audit.AuditLog(audit.SqliteAuditStore(conn), key.key)
    # once, in the migration's transaction: log.create_schema()
    conn.execute("BEGIN IMMEDIATE")
    ...the change...
    log.append(audit.AuditAction.REMOVE, actor, f"person {pid}", {"samples": n})
    conn.execute("COMMIT")                    # ROLLBACK on error: neither is kept

Seal the PIN hash and lockout (in the transaction of their audit record, `seq`; the gallery's
own id is kept inside it, kiosk.gallery.admin_pin does all of this)::

    pin_policy.validate_pin(new_pin)                          # when a PIN is set
    text = pin_policy.seal(LockoutState(failures, until), key.key, gallery_id, seq)
    state = pin_policy.unseal(stored_text, key.key, gallery_id, expected=pin_is_set)
    hashed = pin_policy.seal_pin_hash(hash_text, key.key, gallery_id, seq)

Notice a restored older copy (what this computer last saw, kept in its key folder)::

    guard = audit_anchor.GalleryGuard(audit_anchor.anchor_path(gallery_id, where))
    guard.check(last_seq, store.mac_at)        # after every audited commit: guard.seen(seq, mac)

Erase a person for real::

    BEGIN IMMEDIATE; DELETE FROM people WHERE id = ?; log.append(ERASE, ...); COMMIT
    erase.purge(conn)         # checkpoint(TRUNCATE), VACUUM, checkpoint; EraseIncomplete
                              # while another connection holds a read transaction: retry
    encrypted_gallery.rotate_key(db_path)   # optional: old copies on disk become unreadable
"""
