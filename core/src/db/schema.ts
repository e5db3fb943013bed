import type { ColumnType, Generated } from "kysely";

/** A JSON column: written as JSON text, read back parsed. */
type Json<T> = ColumnType<T, string, string>;
/** A bigint column: drivers return a string (pg), a number or a bigint; written as a number. */
type BigIntColumn = ColumnType<string | number | bigint, number, number>;
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface CustomersTable {
  id: Generated<number>;
  phone: string;
  name: string;
  email: string | null;
  address: string | null;
  carrier: string | null;
  status: Generated<string>;
  debt: ColumnType<string | number | bigint, number | undefined, number>;
  note: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SepayLogsTable {
  /** SePay's transaction id: the primary key is the dedupe. */
  id: BigIntColumn;
  gateway: string;
  transaction_date: string;
  transaction_at: Timestamp;
  account_number: string;
  code: string | null;
  content: string | null;
  transfer_type: string;
  transfer_amount: BigIntColumn;
  accumulated: BigIntColumn;
  sub_account: string | null;
  reference_code: string | null;
  description: string | null;
  raw: Json<unknown>;
  received_at: Generated<Date>;
}

interface IdempotencyKeysTable {
  /** A keyed hash of the caller's credential (migration 007); '' for a caller without one. */
  scope: Generated<string>;
  key: string;
  operation_id: string;
  request_hash: string;
  /** `released`: let go after a definite failure part-way, with progress, for the same request only. */
  state: "in_flight" | "completed" | "released";
  /** The StoredResponse as JSON text (migration 005), in the key order it was written. */
  response: string | null;
  /** The call's checkpoints (core/src/idempotency/store.ts `Progress`) as JSON text (migration 006). */
  progress: string | null;
  created_at: Timestamp;
  locked_until: Timestamp;
  expires_at: Timestamp;
}

interface RealtimeSessionTable {
  /** Always 1: one relay per shop. */
  id: number;
  desired: "running" | "stopped";
  token: string | null;
  cookie: string | null;
  user_id: string | null;
  page_ids: Json<string[]>;
  state: "stopped" | "connecting" | "connected" | "reconnecting";
  leader_instance_id: string | null;
  connected_at: Date | null;
  last_event_at: Date | null;
  reconnect_attempts: number;
  last_error: string | null;
  generation: Generated<number>;
  updated_at: Timestamp;
}

interface RealtimeEventsTable {
  id: Generated<string>;
  message: Json<unknown>;
  created_at: Generated<Date>;
}

/** The gateway's tables (migrations in ./migrations.ts). */
export interface Database {
  customers: CustomersTable;
  sepay_logs: SepayLogsTable;
  idempotency_keys: IdempotencyKeysTable;
  realtime_session: RealtimeSessionTable;
  realtime_events: RealtimeEventsTable;
}
