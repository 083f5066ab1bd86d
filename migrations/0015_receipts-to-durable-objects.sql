-- Issue 13: message receipts (effect-once claims) moved to ReceiptShard Durable Objects beside the
-- consumer (src/messaging/receipts.ts), so a batch no longer pays D1 round trips to claim and settle.
-- Receipts are transient bookkeeping (never backed up); claims held here at upgrade time are dropped,
-- so a message redelivered across the upgrade may run its effect once more (targets dedupe by key too).
DROP TABLE IF EXISTS `message_receipts`;
