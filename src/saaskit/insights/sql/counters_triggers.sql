-- The triggers that keep stats_counters (counters.sql), so that GET /api/admin/stats never counts
-- a whole table. Statement level with transition tables: a bulk statement moves each counter once.
-- On users, the deleted_at trigger is row level and fires only when deleted_at changes:
-- heartbeats update users constantly and must not pay for it (a statement trigger with
-- transition tables cannot be limited to some columns).

CREATE OR REPLACE TRIGGER subscriptions_counters_insert AFTER INSERT ON subscriptions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
COMMENT ON TRIGGER subscriptions_counters_insert ON subscriptions IS
  'Counts new subscriptions in stats_counters and refreshes their users'' subscription state.';

CREATE OR REPLACE TRIGGER subscriptions_counters_update AFTER UPDATE ON subscriptions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
COMMENT ON TRIGGER subscriptions_counters_update ON subscriptions IS
  'Moves the subscription counters of changed subscriptions and refreshes their users'' state.';

CREATE OR REPLACE TRIGGER subscriptions_counters_delete AFTER DELETE ON subscriptions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
COMMENT ON TRIGGER subscriptions_counters_delete ON subscriptions IS
  'Uncounts deleted subscriptions and refreshes their users'' subscription state.';

CREATE OR REPLACE TRIGGER users_counters_insert AFTER INSERT ON users
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_users_inserted();
COMMENT ON TRIGGER users_counters_insert ON users IS 'Counts new users in stats_counters.';

CREATE OR REPLACE TRIGGER users_counters_delete AFTER DELETE ON users
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_users_deleted();
COMMENT ON TRIGGER users_counters_delete ON users IS 'Uncounts deleted users in stats_counters.';

CREATE OR REPLACE TRIGGER users_counters_deleted_at AFTER UPDATE OF deleted_at ON users
  FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
  EXECUTE FUNCTION app_user_deleted_at_changed();
COMMENT ON TRIGGER users_counters_deleted_at ON users IS
  'Moves the user counters when a user is soft-deleted or restored.';

CREATE OR REPLACE TRIGGER visitor_sessions_counters_insert AFTER INSERT ON visitor_sessions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_visitor_sessions_inserted();
COMMENT ON TRIGGER visitor_sessions_counters_insert ON visitor_sessions IS
  'Counts new visitor sessions in stats_counters (a refreshed session is not new).';

CREATE OR REPLACE TRIGGER visitor_sessions_counters_delete AFTER DELETE ON visitor_sessions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_visitor_sessions_deleted();
COMMENT ON TRIGGER visitor_sessions_counters_delete ON visitor_sessions IS
  'Uncounts deleted visitor sessions in stats_counters.';
