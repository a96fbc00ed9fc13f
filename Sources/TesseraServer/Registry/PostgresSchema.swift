import PostgresNIO

/// The shared registry's tables: the same migrations as `SQLiteRegistry`'s, by the same names and meaning, in
/// PostgreSQL's words (snake_case columns, timestamptz, bigint). Applied in one transaction under an advisory lock,
/// so replicas starting together migrate once.
enum PostgresSchema {
    static let migrations: [(name: String, sql: [String])] = [
        ("v1", ["""
            CREATE TABLE tenant (id text PRIMARY KEY, name text NOT NULL UNIQUE, weight double precision NOT NULL,
                key_hash bytea NOT NULL, created_at timestamptz NOT NULL, revoked boolean NOT NULL)
            """]),
        ("v2-adapters", ["""
            CREATE TABLE adapter (store_id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenant ON DELETE CASCADE,
                name text NOT NULL, version bigint NOT NULL, kind text NOT NULL, bytes bigint NOT NULL,
                created_at timestamptz NOT NULL, UNIQUE (tenant_id, name, version))
            """]),
        ("v3-limits", ["ALTER TABLE tenant ADD requests_per_minute bigint, ADD tokens_per_minute bigint, ADD max_concurrent bigint"]),
        ("v4-shared", ["INSERT INTO tenant (id, name, weight, key_hash, created_at, revoked) VALUES ('\(sharedTenantID)', '_shared', 1, '', now(), true)"]),
        ("v5-max-tokens", ["ALTER TABLE tenant ADD max_tokens bigint"]),
        ("v6-fine-tuning", [
            "ALTER TABLE tenant ADD max_training_jobs bigint",
            """
            CREATE TABLE file (id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenant ON DELETE CASCADE,
                filename text NOT NULL, purpose text NOT NULL, bytes bigint NOT NULL, lines bigint NOT NULL,
                format text NOT NULL, created_at timestamptz NOT NULL)
            """,
            """
            CREATE TABLE fine_tuning_job (id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenant ON DELETE CASCADE,
                model text NOT NULL, training_file text NOT NULL, validation_file text, suffix text, seed bigint NOT NULL,
                metadata text, spec text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL,
                started_at timestamptz, finished_at timestamptz, fine_tuned_model text, trained_tokens bigint,
                error_code text, error_message text, error_param text, estimated_finish timestamptz,
                result_files text NOT NULL, attempts bigint NOT NULL)
            """,
            "CREATE INDEX fine_tuning_job_status ON fine_tuning_job (status)",
            """
            CREATE TABLE job_event (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE,
                job_id text NOT NULL REFERENCES fine_tuning_job ON DELETE CASCADE, created_at timestamptz NOT NULL,
                level text NOT NULL, message text NOT NULL, type text NOT NULL, data text)
            """,
            "CREATE INDEX job_event_job ON job_event (job_id)",
            """
            CREATE TABLE job_checkpoint (id text PRIMARY KEY, job_id text NOT NULL REFERENCES fine_tuning_job ON DELETE CASCADE,
                step bigint NOT NULL, model text NOT NULL, metrics text NOT NULL, created_at timestamptz NOT NULL)
            """,
            "CREATE INDEX job_checkpoint_job ON job_checkpoint (job_id)",
        ]),
        ("v7-replicas", [
            "ALTER TABLE fine_tuning_job ADD owner text, ADD heartbeat_at timestamptz",
            // Per-minute counts of rate-limited tenants (SQLite's one process counts in memory instead).
            """
            CREATE TABLE tenant_usage (tenant_id text NOT NULL REFERENCES tenant ON DELETE CASCADE, minute bigint NOT NULL,
                requests bigint NOT NULL, tokens bigint NOT NULL, PRIMARY KEY (tenant_id, minute))
            """,
        ]),
    ]

    static func migrate(_ c: PostgresConnection) throws {
        try c.run("BEGIN")
        do {
            try c.run("SELECT pg_advisory_xact_lock(7315220851)")  // any constant; the same for every replica
            try c.run("CREATE TABLE IF NOT EXISTS registry_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL)")
            let done = Set(try c.run("SELECT name FROM registry_migration").map { try $0.decode(String.self) })
            for m in migrations where !done.contains(m.name) {
                for sql in m.sql { try c.run(PostgresQuery(unsafeSQL: sql)) }
                try c.run("INSERT INTO registry_migration (name, applied_at) VALUES (\(m.name), now())")
            }
            try c.run("COMMIT")
        } catch {
            _ = try? c.run("ROLLBACK")
            throw error
        }
    }
}
