/// The store's schema, one entry per version, applied in order at start inside a
/// transaction and recorded in `schema_migrations`. Never edit a released entry: add one.
/// Each backend has the same versions with the same content in its own types.
enum Migrations {
    static let sqlite: [String] = [
        // 1: jobs, their timelines, API tokens.
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            idempotency_key TEXT UNIQUE,
            fingerprint TEXT,
            state TEXT NOT NULL,
            source TEXT NOT NULL,
            input_key TEXT,
            output_key TEXT,
            preset TEXT,
            body TEXT,
            metadata TEXT,
            progress REAL NOT NULL DEFAULT 0,
            sampled_progress REAL NOT NULL DEFAULT 0,
            attempt INTEGER,
            worker_id TEXT,
            fps REAL,
            eta_seconds REAL,
            output_size INTEGER,
            duration_seconds REAL,
            error_code TEXT,
            error_message TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            last_message_at TEXT
        );
        CREATE INDEX jobs_state_seq ON jobs (state, seq);
        CREATE INDEX jobs_created_at ON jobs (created_at);
        CREATE TABLE job_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX job_events_job ON job_events (job_id, seq);
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        """,
        // 2: workers, from their heartbeats.
        """
        CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            version TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            state TEXT NOT NULL,
            concurrency INTEGER NOT NULL,
            jobs TEXT NOT NULL,
            load TEXT NOT NULL
        );
        """,
        // 3: webhooks: each job's target, and every delivery with its attempts.
        """
        ALTER TABLE jobs ADD COLUMN webhook_url TEXT;
        ALTER TABLE jobs ADD COLUMN webhook_progress INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            event TEXT NOT NULL,
            url TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
        CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, id);
        """,
        // 4: key prefix filters use index ranges instead of scanning.
        """
        CREATE INDEX jobs_input_key ON jobs (input_key);
        CREATE INDEX jobs_output_key ON jobs (output_key);
        """,
        // 5: each job's priority lane; user presets.
        """
        ALTER TABLE jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
        CREATE TABLE presets (
            name TEXT PRIMARY KEY,
            description TEXT,
            definition TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
        // 6: what a completed job's output is (codec, frame size).
        """
        ALTER TABLE jobs ADD COLUMN output_codec TEXT;
        ALTER TABLE jobs ADD COLUMN output_width INTEGER;
        ALTER TABLE jobs ADD COLUMN output_height INTEGER;
        """,
        // 7: a segmented job's parts, parts encoded, and workers on it now.
        """
        ALTER TABLE jobs ADD COLUMN segments_total INTEGER;
        ALTER TABLE jobs ADD COLUMN segments_done INTEGER;
        ALTER TABLE jobs ADD COLUMN workers INTEGER;
        """,
    ]

    /// As `sqlite`. Timestamps stay RFC 3339 text as there; text that is compared or sorted
    /// uses the C collation, so that order and key prefix ranges are byte-wise as in SQLite.
    static let postgres: [String] = [
        // 1: jobs, their timelines, API tokens.
        """
        CREATE TABLE jobs (
            seq BIGSERIAL PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            idempotency_key TEXT UNIQUE,
            fingerprint TEXT,
            state TEXT NOT NULL,
            source TEXT NOT NULL,
            input_key TEXT COLLATE "C",
            output_key TEXT COLLATE "C",
            preset TEXT,
            body TEXT,
            metadata TEXT,
            progress DOUBLE PRECISION NOT NULL DEFAULT 0,
            sampled_progress DOUBLE PRECISION NOT NULL DEFAULT 0,
            attempt BIGINT,
            worker_id TEXT,
            fps DOUBLE PRECISION,
            eta_seconds DOUBLE PRECISION,
            output_size BIGINT,
            duration_seconds DOUBLE PRECISION,
            error_code TEXT,
            error_message TEXT,
            created_at TEXT COLLATE "C" NOT NULL,
            updated_at TEXT COLLATE "C" NOT NULL,
            started_at TEXT COLLATE "C",
            finished_at TEXT COLLATE "C",
            last_message_at TEXT COLLATE "C"
        );
        CREATE INDEX jobs_state_seq ON jobs (state, seq);
        CREATE INDEX jobs_created_at ON jobs (created_at);
        CREATE TABLE job_events (
            seq BIGSERIAL PRIMARY KEY,
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            at TEXT COLLATE "C" NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX job_events_job ON job_events (job_id, seq);
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            created_at TEXT COLLATE "C" NOT NULL,
            revoked_at TEXT COLLATE "C"
        );
        """,
        // 2: workers, from their heartbeats.
        """
        CREATE TABLE workers (
            id TEXT COLLATE "C" PRIMARY KEY,
            host TEXT NOT NULL,
            version TEXT NOT NULL,
            pid BIGINT NOT NULL,
            started_at TEXT COLLATE "C" NOT NULL,
            last_seen TEXT COLLATE "C" NOT NULL,
            state TEXT NOT NULL,
            concurrency BIGINT NOT NULL,
            jobs TEXT NOT NULL,
            load TEXT NOT NULL
        );
        """,
        // 3: webhooks: each job's target, and every delivery with its attempts.
        """
        ALTER TABLE jobs ADD COLUMN webhook_url TEXT;
        ALTER TABLE jobs ADD COLUMN webhook_progress BIGINT NOT NULL DEFAULT 0;
        CREATE TABLE webhook_deliveries (
            id BIGSERIAL PRIMARY KEY,
            job_id TEXT NOT NULL,
            event TEXT NOT NULL,
            url TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts TEXT NOT NULL DEFAULT '[]',
            next_attempt_at TEXT COLLATE "C" NOT NULL,
            created_at TEXT COLLATE "C" NOT NULL,
            delivered_at TEXT COLLATE "C"
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
        CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, id);
        """,
        // 4: key prefix filters use index ranges instead of scanning.
        """
        CREATE INDEX jobs_input_key ON jobs (input_key);
        CREATE INDEX jobs_output_key ON jobs (output_key);
        """,
        // 5: each job's priority lane; user presets.
        """
        ALTER TABLE jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
        CREATE TABLE presets (
            name TEXT PRIMARY KEY,
            description TEXT,
            definition TEXT NOT NULL,
            created_at TEXT COLLATE "C" NOT NULL,
            updated_at TEXT COLLATE "C" NOT NULL
        );
        """,
        // 6: what a completed job's output is (codec, frame size).
        """
        ALTER TABLE jobs ADD COLUMN output_codec TEXT;
        ALTER TABLE jobs ADD COLUMN output_width BIGINT;
        ALTER TABLE jobs ADD COLUMN output_height BIGINT;
        """,
        // 7: a segmented job's parts, parts encoded, and workers on it now.
        """
        ALTER TABLE jobs ADD COLUMN segments_total BIGINT;
        ALTER TABLE jobs ADD COLUMN segments_done BIGINT;
        ALTER TABLE jobs ADD COLUMN workers BIGINT;
        """,
    ]
}
