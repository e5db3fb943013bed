import { type Kysely, type Migration, sql } from "kysely";

/**
 * The schema, as Kysely migrations (run in name order by the Node server's Migrator under an
 * advisory lock). The same SQL runs on PostgreSQL and on embedded PGlite.
 */
export const migrations: Record<string, Migration> = {
  "2026-11-25-001-customers": {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE customers (
          id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          phone text NOT NULL,
          name text NOT NULL CHECK (length(btrim(name)) > 0),
          email text,
          address text,
          carrier text,
          status text NOT NULL DEFAULT 'normal' CHECK (status IN ('normal', 'warning', 'danger', 'bomb', 'vip')),
          debt bigint NOT NULL DEFAULT 0,
          note text,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT customers_phone_key UNIQUE (phone)
        )`.execute(db);
      // Phone search is by prefix; the pattern index serves LIKE 'digits%' in any collation.
      await sql`CREATE INDEX customers_phone_prefix ON customers (phone text_pattern_ops)`.execute(db);
      await sql`CREATE INDEX customers_created ON customers (created_at DESC, id DESC)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`DROP TABLE customers`.execute(db);
    },
  },
  "2026-11-25-002-sepay-logs": {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE sepay_logs (
          id bigint PRIMARY KEY,
          gateway text NOT NULL,
          transaction_date text NOT NULL,
          transaction_at timestamptz NOT NULL,
          account_number text NOT NULL,
          code text,
          content text,
          transfer_type text NOT NULL CHECK (transfer_type IN ('in', 'out')),
          transfer_amount bigint NOT NULL CHECK (transfer_amount >= 0),
          accumulated bigint NOT NULL,
          sub_account text,
          reference_code text,
          description text,
          raw jsonb NOT NULL,
          received_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      await sql`CREATE INDEX sepay_logs_time ON sepay_logs (transaction_at DESC, id DESC)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`DROP TABLE sepay_logs`.execute(db);
    },
  },
  "2026-11-25-003-idempotency-keys": {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE idempotency_keys (
          key text PRIMARY KEY,
          operation_id text NOT NULL,
          request_hash text NOT NULL,
          state text NOT NULL CHECK (state IN ('in_flight', 'completed')),
          response jsonb,
          created_at timestamptz NOT NULL,
          locked_until timestamptz NOT NULL,
          expires_at timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`DROP TABLE idempotency_keys`.execute(db);
    },
  },
  "2026-11-25-004-realtime": {
    async up(db: Kysely<unknown>) {
      await sql`
        CREATE TABLE realtime_session (
          id integer PRIMARY KEY CHECK (id = 1),
          desired text NOT NULL CHECK (desired IN ('running', 'stopped')),
          token text,
          cookie text,
          user_id text,
          page_ids jsonb NOT NULL DEFAULT '[]',
          state text NOT NULL DEFAULT 'stopped' CHECK (state IN ('stopped', 'connecting', 'connected', 'reconnecting')),
          leader_instance_id text,
          connected_at timestamptz,
          last_event_at timestamptz,
          reconnect_attempts integer NOT NULL DEFAULT 0,
          last_error text,
          generation integer NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      // Events too large for a NOTIFY payload (8000 bytes) are passed by reference through this table.
      await sql`
        CREATE TABLE realtime_events (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          message jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`DROP TABLE realtime_events`.execute(db);
      await sql`DROP TABLE realtime_session`.execute(db);
    },
  },
  "2026-11-26-005-idempotency-response-text": {
    // A stored response is kept as the text it was written as: jsonb re-sorts object keys (by length,
    // then bytes), so a replay's JSON body came back in another key order than the first answer's.
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE idempotency_keys ALTER COLUMN response TYPE text USING response::text`.execute(
        db,
      );
    },
    async down(db: Kysely<unknown>) {
      await sql`ALTER TABLE idempotency_keys ALTER COLUMN response TYPE jsonb USING response::jsonb`.execute(
        db,
      );
    },
  },
  "2026-12-03-006-idempotency-progress": {
    // A keyed call made of several upstream steps (the images, then the text, of a Messenger send)
    // records each step that went out in `progress`. A definite failure part-way releases the key
    // with that progress ('released'), so only the same request may claim it again, and it skips
    // those steps. The Node server and the Worker share the table, so both read the new state.
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE idempotency_keys ADD COLUMN progress text`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_state_check`.execute(db);
      await sql`
        ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_state_check
          CHECK (state IN ('in_flight', 'completed', 'released'))`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      // A released key's progress cannot be kept without the column: forget the key.
      await sql`DELETE FROM idempotency_keys WHERE state = 'released'`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_state_check`.execute(db);
      await sql`
        ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_state_check
          CHECK (state IN ('in_flight', 'completed'))`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP COLUMN progress`.execute(db);
    },
  },
  "2026-12-03-007-idempotency-scope": {
    // A key belongs to the caller that used it: (scope, key), where scope is a keyed hash of the
    // credential the request carried. Keys stored before have the empty scope, the anonymous one.
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT ''`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey`.execute(db);
      await sql`ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, key)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      // Two callers' keys may now share a key text: keep the anonymous scope's only.
      await sql`DELETE FROM idempotency_keys WHERE scope <> ''`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey`.execute(db);
      await sql`ALTER TABLE idempotency_keys ADD PRIMARY KEY (key)`.execute(db);
      await sql`ALTER TABLE idempotency_keys DROP COLUMN scope`.execute(db);
    },
  },
};
