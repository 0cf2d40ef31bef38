// The metric catalog (contract: actors/core/metrics.hpp): a declarative
// table, one row per counter of each kind of part (its Prometheus name,
// type, labels and meaning), and one per metric of the server and the
// process; with the look-ups over it and the docs' table made from it
// (metrics_markdown). The exposition that uses it is metrics.cpp.
#include "actors/core/metrics.hpp"

namespace cc {

namespace {

constexpr auto C = metric_type::counter;
constexpr auto G = metric_type::gauge;
constexpr double ms = 0.001;

// clang-format off
const std::vector<metric_spec> catalog{
  // -- router -------------------------------------------------------------
  {"router", "received", "ccserver_router_received_messages_total", C,
   "messages handed to the router (from the gateway, daemons and caf-listen)"},
  {"router", "routed", "ccserver_router_routed_messages_total", C,
   "messages that matched a route and went to at least one handler"},
  {"router", "unrouted", "ccserver_router_unrouted_messages_total", C,
   "messages no route matched: dropped (and logged with their type)"},
  {"router", "invalid", "ccserver_router_invalid_messages_total", C,
   "messages with a type that is not a CC message type: dropped"},
  {"router", "replies", "ccserver_router_reply_messages_total", C,
   "replies delivered along their route (acks, echo responses)"},
  {"router", "undeliverable", "ccserver_router_undeliverable_messages_total", C,
   "replies whose route names nobody known any more: dropped"},
  {"router", "bytes", "ccserver_router_received_bytes_total", C,
   "bytes (body and blob) of the messages handed to the router"},
  {"router", "handler_errors", "ccserver_router_handler_errors_total", C,
   "handler answers that were errors"},
  {"router", "in_flight", "ccserver_router_in_flight_messages", G,
   "messages handed to handlers and not yet answered"},

  // -- gateway (cc-socket) ------------------------------------------------
  {"gateway", "received", "ccserver_gateway_received_messages_total", C,
   "multipart messages read from cc-socket"},
  {"gateway", "dispatched", "ccserver_gateway_dispatched_messages_total", C,
   "messages parsed and handed to the router"},
  {"gateway", "invalid", "ccserver_gateway_invalid_messages_total", C,
   "messages that were not CC messages: dropped"},
  {"gateway", "sent", "ccserver_gateway_sent_messages_total", C,
   "replies written to cc-socket"},
  {"gateway", "bytes_in", "ccserver_gateway_received_bytes_total", C,
   "bytes of all frames read from cc-socket"},
  {"gateway", "bytes_out", "ccserver_gateway_sent_bytes_total", C,
   "bytes of all frames written to cc-socket"},
  {"gateway", "queued_bytes", "ccserver_gateway_queued_bytes", G,
   "replies waiting for the socket, in bytes"},
  {"gateway", "unroutable", "ccserver_gateway_unroutable_messages_total", C,
   "replies to a peer that is gone: dropped"},
  {"gateway", "dropped", "ccserver_gateway_dropped_messages_total", C,
   "replies a peer did not take for 5 s, or still queued at shutdown"},
  {"gateway", "oversize", "ccserver_gateway_oversize_messages_total", C,
   "messages over max-message-size: dropped"},
  {"gateway", "disconnects", "ccserver_gateway_disconnects_total", C,
   "peer connections that ended"},
  {"gateway", "handshake_failed", "ccserver_gateway_handshake_failures_total", C,
   "connections refused before ZAP (plain client on a CURVE socket, garbage)"},
  {"gateway", "in_flight_bytes", "ccserver_gateway_in_flight_bytes", G,
   "bytes handed to the router and not yet taken by the handlers"},
  {"gateway", "throttled", "ccserver_gateway_throttled_total", C,
   "times reading paused because in-flight bytes passed the budget"},
  {"gateway", "curve_accepted", "ccserver_gateway_curve_accepted_total", C,
   "CURVE handshakes the allow-list let in"},
  {"gateway", "curve_refused", "ccserver_gateway_curve_refused_total", C,
   "CURVE handshakes refused (unknown or malformed key)"},
  {"gateway", "delisted_dropped", "ccserver_gateway_delisted_dropped_messages_total", C,
   "messages of keys removed from the allow-list by a reload: dropped"},
  {"gateway", "allowed_keys", "ccserver_gateway_curve_allowed_keys", G,
   "keys on the CURVE allow-list"},
  {"gateway", "bound_keys", "ccserver_gateway_curve_bound_keys", G,
   "of those, keys bound to host names (host=, relay=)"},
  {"gateway", "data_port", "ccserver_gateway_data_port", G,
   "the data connections' TCP port (data-port; absent: none)"},
  {"gateway", "data_accepted", "ccserver_gateway_data_accepted_total", C,
   "data connections accepted"},
  {"gateway", "data_open", "ccserver_gateway_data_open_connections", G,
   "data connections open now"},
  {"gateway", "data_messages", "ccserver_gateway_data_received_messages_total", C,
   "messages read from data connections"},
  {"gateway", "data_bytes_in", "ccserver_gateway_data_received_bytes_total", C,
   "bytes read from data connections (framing and payload)"},
  {"gateway", "data_refused", "ccserver_gateway_data_refused_total", C,
   "data connections closed for bad input (bad hello, limits, truncated message)"},
  {"gateway", "data_replies", "ccserver_gateway_data_sent_messages_total", C,
   "replies (acks, answers) written to data connections"},
  {"gateway", "data_bytes_out", "ccserver_gateway_data_sent_bytes_total", C,
   "bytes written to data connections"},
  {"gateway", "data_direct", "ccserver_gateway_data_direct_messages_total", C,
   "data connections' messages handed straight to their handler (the tailwriter's door), not through the router"},
  {"gateway", "data_direct_replies", "ccserver_gateway_data_direct_replies_total", C,
   "replies a tailwriter worker wrote straight to a data connection, not through the router"},
  {"gateway", "data_pool_hits", "ccserver_gateway_data_pool_hits_total", C,
   "data connections' blobs (64 KiB to 4 MiB) read into a receive buffer the pool kept"},
  {"gateway", "data_pool_misses", "ccserver_gateway_data_pool_misses_total", C,
   "data connections' blobs (64 KiB to 4 MiB) for which the pool mapped a new receive buffer"},
  {"gateway", "data_pool_unmapped", "ccserver_gateway_data_pool_unmapped_total", C,
   "receive buffers given back while the pool held its limit: unmapped (returned to the kernel)"},
  {"gateway", "data_pool_kept_bytes", "ccserver_gateway_data_pool_kept_bytes", G,
   "bytes of free receive buffers the pool keeps for reuse (at most the in-flight budget + 4 MiB)"},
  {"gateway", "data_pool_in_use", "ccserver_gateway_data_pool_in_use_buffers", G,
   "receive buffers holding a blob now (being read, or waiting to be written)"},

  // -- caf-listen ---------------------------------------------------------
  {"caf-listen", "received", "ccserver_caf_listen_received_messages_total", C,
   "messages from CAF peers handed to the router"},
  {"caf-listen", "bytes_in", "ccserver_caf_listen_received_bytes_total", C,
   "bytes of the messages from CAF peers"},
  {"caf-listen", "replies", "ccserver_caf_listen_reply_messages_total", C,
   "replies sent back to CAF peers"},
  {"caf-listen", "undeliverable", "ccserver_caf_listen_undeliverable_messages_total", C,
   "replies to CAF peers that are gone: dropped"},
  {"caf-listen", "connected", "ccserver_caf_listen_connected_peers", G,
   "CAF peers connected now"},
  {"caf-listen", "peers_lost", "ccserver_caf_listen_peers_lost_total", C,
   "CAF peers whose link ended"},
  {"caf-listen", "refused", "ccserver_caf_listen_refused_total", C,
   "requests from peers that only this node may make: refused"},
  {"caf-listen", "pending", "ccserver_caf_listen_pending_messages", G,
   "messages held while the router is paused (reload)"},

  // -- forwarder (proxy): one link to remote-cc ---------------------------
  {"proxy", "received", "ccserver_forward_received_messages_total", C,
   "messages the router handed to the forwarder"},
  {"proxy", "lane", "ccserver_forward_lane_messages_total", C,
   "fragments of this process's tailers handed to the data connection past the "
   "router (the local direct lane: nothing queued, the connection up)"},
  {"proxy", "sent", "ccserver_forward_sent_messages_total", C,
   "messages handed to the link (pings included)"},
  {"proxy", "queued_bytes", "ccserver_forward_queued_bytes", G,
   "bytes queued for the link, bounded by queue-bytes"},
  {"proxy", "waiting", "ccserver_forward_waiting_messages", G,
   "messages held back because the queue is full (their senders wait)"},
  {"proxy", "replies", "ccserver_forward_reply_messages_total", C,
   "messages from the remote passed to the router (acks, echo responses)"},
  {"proxy", "invalid", "ccserver_forward_invalid_messages_total", C,
   "frames from the remote that were not CC messages"},
  {"proxy", "pings", "ccserver_forward_pings_total", C,
   "echo.requests sent to the remote (ping)"},
  {"proxy", "pongs", "ccserver_forward_pongs_total", C,
   "echo.responses received for them"},
  {"proxy", "connected", "ccserver_forward_connected", G,
   "1 while the link to remote-cc is up, else 0"},
  {"proxy", "reconnects", "ccserver_forward_reconnects_total", C,
   "times the link came back after its first connect"},
  {"proxy", "probes", "ccserver_forward_probes_total", C,
   "echo.requests asking the remote whether it acknowledges (ack = auto)"},
  {"proxy", "host_denied", "ccserver_forward_host_denied_total", C,
   "pub.logtail and pub.infofile of a client key bound to other host names "
   "(this server's curve-allowed-keys): not carried on, answered 'denied'"},
  {"proxy", "remote_acks", "ccserver_forward_remote_acks", G,
   "what the remote said it does: 0 unknown yet, 1 acknowledges, 2 does "
   "not (an original CC)"},
  {"proxy", "link_down_ms", "ccserver_forward_down_seconds", G,
   "seconds since the link went down (since start when it never came up); "
   "0 while up", "", ms},
  {"proxy", "last_pong_age_ms", "ccserver_forward_last_pong_age_seconds", G,
   "seconds since the last pong (since start before the first); only with "
   "ping", "", ms},
  {"proxy", "caf_connect_failures", "ccserver_forward_caf_connect_failures_total", C,
   "caf:// links: connection attempts that failed"},
  {"proxy", "caf_links_lost", "ccserver_forward_caf_links_lost_total", C,
   "caf:// links: established links that were lost"},
  {"proxy", "caf_remote_errors", "ccserver_forward_caf_remote_errors_total", C,
   "caf:// links: messages the remote answered with an error"},
  {"proxy", "caf_requeued", "ccserver_forward_caf_requeued_messages_total", C,
   "caf:// links: messages sent again after a link was lost"},
  {"proxy", "in_flight", "ccserver_forward_in_flight_messages", G,
   "caf:// links: messages sent and not yet answered by the remote"},
  {"proxy", "pending", "ccserver_forward_pending_messages", G,
   "caf:// links: messages held until the link is up"},
  {"proxy", "data_offered", "ccserver_forward_data_offered", G,
   "1 while the remote offers a data connection this link may use"},
  {"proxy", "data_connects", "ccserver_forward_data_connects_total", C,
   "data connections that came up"},
  {"proxy", "data_failures", "ccserver_forward_data_failures_total", C,
   "data connections refused or lost (pub.logtail then goes over ZeroMQ)"},
  {"proxy", "data_messages", "ccserver_forward_data_sent_messages_total", C,
   "pub.logtail messages written whole to the data connection"},
  {"proxy", "data_direct", "ccserver_forward_data_direct_messages_total", C,
   "of those, written by the forwarder's thread itself (nothing queued ahead), "
   "without waking the I/O loop"},
  {"proxy", "data_bytes_out", "ccserver_forward_data_sent_bytes_total", C,
   "bytes written to the data connection (framing and payload)"},
  {"proxy", "data_fell_back", "ccserver_forward_data_fell_back_messages_total", C,
   "messages queued for the data connection handed back to ZeroMQ when it went"},
  {"proxy", "data_lost", "ccserver_forward_data_cut_messages_total", C,
   "messages cut by a lost data connection (resent by the gap / ack-timeout path)"},
  {"proxy", "data_replies", "ccserver_forward_data_reply_messages_total", C,
   "replies (acks, answers) read from the data connection"},
  {"proxy", "data_replies_here", "ccserver_forward_data_replies_on_loop_total", C,
   "of those, read while the connection had nothing to send: handed on on the "
   "I/O loop's thread, where a trickle's tailer takes its ack without waking a "
   "scheduler worker"},
  {"proxy", "data_bytes_in", "ccserver_forward_data_received_bytes_total", C,
   "bytes read from the data connection"},
  {"proxy", "data_sendfile", "ccserver_forward_data_sendfile_messages_total", C,
   "pub.logtail messages whose payload went from the source file by sendfile"},
  {"proxy", "ranges_read", "ccserver_forward_ranges_read_messages_total", C,
   "fragments left in their source file, read into memory for ZeroMQ or a "
   "caf:// link as they are sent"},
  {"proxy", "ranges_gone", "ccserver_forward_ranges_gone_messages_total", C,
   "fragments whose source shrank or changed before they were sent: dropped "
   "(resent by the gap / ack-timeout path)"},

  // -- tailer (logtail): per daemon section, per source file --------------
  {"logtail", "bytes_read", "ccserver_tail_read_bytes_total", C,
   "bytes read from source files (or taken, to be sent from there by sendfile)"},
  {"logtail", "fragments_sent", "ccserver_tail_sent_fragments_total", C,
   "pub.logtail fragments sent (resends included)"},
  {"logtail", "bytes_sent", "ccserver_tail_sent_bytes_total", C,
   "source bytes sent in fragments (resends included)"},
  {"logtail", "acked_bytes", "ccserver_tail_acked_bytes_total", C,
   "source bytes a writer acknowledged as durable"},
  {"logtail", "resends", "ccserver_tail_resends_total", C,
   "rewinds to the last acknowledged offset (ack timeout, gap, reconnect)"},
  {"logtail", "gaps_reported", "ccserver_tail_gaps_reported_total", C,
   "gap answers from a writer"},
  {"logtail", "files_switched", "ccserver_tail_files_switched_total", C,
   "moves to the next file or generation"},
  {"logtail", "skipped_bytes", "ccserver_tail_skipped_bytes_total", C,
   "bytes skipped by lag-max-bytes at start-up"},
  {"logtail", "send_errors", "ccserver_tail_send_errors_total", C,
   "fragments the router refused (no route, handler error): retried"},
  {"logtail", "refused", "ccserver_tail_refused_fragments_total", C,
   "fragments a writer refused: not sent again"},
  {"logtail", "generations", "ccserver_tail_generations_total", C,
   "new generations of a file (truncation, first bytes changed)"},
  {"logtail", "stale_acks", "ccserver_tail_stale_acks_total", C,
   "acks for another generation or an older offset: ignored"},
  {"logtail", "reconciles", "ccserver_tail_reconciles_total", C,
   "times the tailer settled with the writer where to send from (docs/wire.md 6.1)"},
  {"logtail", "questions", "ccserver_tail_questions_total", C,
   "questions (state, digest) sent to the writer"},
  {"logtail", "polls", "ccserver_tail_polls_total", C,
   "safety polls of the log directory and file (every poll-interval; ten "
   "times less often while idle under inotify)"},
  {"logtail", "writer_restarts", "ccserver_tail_writer_restarts_total", C,
   "times the writer's instance changed (it restarted): its copies asked about again"},
  {"logtail", "resumed_below_acked", "ccserver_tail_resumed_below_acked_total", C,
   "reconciles that resumed below the acknowledged offset (a copy lost its end)"},
  {"logtail", "copies_cut_back", "ccserver_tail_copies_cut_back_total", C,
   "copies told to drop bytes past their source"},
  {"logtail", "moved_generation_reads", "ccserver_tail_moved_generation_reads_total", C,
   "rests of a generation read from the file a rotation moved it to"},
  {"logtail", "lost_bytes", "ccserver_tail_lost_bytes_total", C,
   "bytes read but never acknowledged whose source vanished (truncated, "
   "no rotated copy found): reported, not delivered"},
  {"logtail", "verify_mismatch_bytes", "ccserver_tail_verify_mismatch_bytes_total", C,
   "bytes where the background verify found the copy different from the source"},
  {"logtail", "repaired_bytes", "ccserver_tail_repaired_bytes_total", C,
   "bytes sent again to repair a copy"},
  {"logtail", "denied", "ccserver_tail_denied_total", C,
   "answers 'denied' from the writer (another source writes the copy, or this link may not write this host): held"},
  {"logtail", "central_write_errors", "ccserver_tail_central_write_errors_total", C,
   "answers 'error' from the writer (it could not write: no space, an I/O error): held"},
  {"logtail", "outstanding", "ccserver_tail_outstanding_requests", G,
   "fragments handed to the router and not yet answered"},
  {"logtail", "ack_timeout_ms", "ccserver_tail_ack_timeout_seconds", G,
   "the ack timeout now (ack-timeout, doubled per timeout without progress)",
   "", ms},
  {"logtail", "failing", "ccserver_tail_failing", G,
   "1 while the tailer cannot list its directory or open its file (an "
   "error other than 'not there'), else 0"},
  {"logtail", "lag_bytes", "ccserver_tail_lag_bytes", G,
   "bytes not yet acknowledged: end of the newest file minus the "
   "acknowledged offset, plus newer files not yet opened", "file"},
  {"logtail", "file_size", "ccserver_tail_file_size_bytes", G,
   "size of the file being tailed", "file"},
  {"logtail", "read_offset", "ccserver_tail_read_offset_bytes", G,
   "offset up to which the file has been read", "file"},
  {"logtail", "sent_offset", "ccserver_tail_sent_offset_bytes", G,
   "offset up to which the file has been sent", "file"},
  {"logtail", "acked_offset", "ccserver_tail_acked_offset_bytes", G,
   "offset up to which a writer acknowledged the file (saved position)", "file"},
  {"logtail", "last_ack_age_ms", "ccserver_tail_last_ack_age_seconds", G,
   "seconds since an ack last moved the position (after the first ack "
   "of this run)", "file", ms},

  // -- tailwriter: per handler section, per copy --------------------------
  {"tailwriter", "fragments", "ccserver_tailwriter_fragments_total", C,
   "fragments handled by the workers"},
  {"tailwriter", "bytes_written", "ccserver_tailwriter_written_bytes_total", C,
   "bytes appended to copies"},
  {"tailwriter", "duplicates", "ccserver_tailwriter_duplicate_fragments_total", C,
   "fragments the copy already held: nothing written"},
  {"tailwriter", "duplicate_bytes", "ccserver_tailwriter_duplicate_bytes_total", C,
   "bytes received that the copy already held"},
  {"tailwriter", "gaps", "ccserver_tailwriter_gaps_total", C,
   "fragments that started after the copy's end (a resend was asked for)"},
  {"tailwriter", "gap_bytes", "ccserver_tailwriter_gap_bytes_total", C,
   "bytes missing before such fragments"},
  {"tailwriter", "refused_paths", "ccserver_tailwriter_refused_paths_total", C,
   "fragments whose destination would leave dstdir: refused"},
  {"tailwriter", "invalid", "ccserver_tailwriter_invalid_fragments_total", C,
   "fragments that did not decode: refused"},
  {"tailwriter", "too_large", "ccserver_tailwriter_too_large_fragments_total", C,
   "fragments over max-fragment-bytes decompressed: refused"},
  {"tailwriter", "open_files", "ccserver_tailwriter_open_files", G,
   "copies open now"},
  {"tailwriter", "acks_sent", "ccserver_tailwriter_acks_sent_total", C,
   "logtail.ack messages sent"},
  {"tailwriter", "fsyncs", "ccserver_tailwriter_fsyncs_total", C,
   "fdatasync calls on copies and journals"},
  {"tailwriter", "syncfs_rounds", "ccserver_tailwriter_syncfs_rounds_total", C,
   "sync rounds that made their copies durable with one sync of the file system (syncfs-batch)"},
  {"tailwriter", "syncfs_copies", "ccserver_tailwriter_syncfs_copies_total", C,
   "copies made durable by those rounds, without an fdatasync of their own"},
  {"tailwriter", "open_files_evicted", "ccserver_tailwriter_evicted_files_total", C,
   "copies closed early to stay under max-open-files"},
  {"tailwriter", "too_many_sources", "ccserver_tailwriter_too_many_sources_total", C,
   "fragments refused by max-source-keys-per-host"},
  {"tailwriter", "backpressure_waits", "ccserver_tailwriter_backpressure_waits_total", C,
   "answers held because a worker's queue was full"},
  {"tailwriter", "queries", "ccserver_tailwriter_queries_total", C,
   "questions from tailers answered (logtail.state)"},
  {"tailwriter", "repaired_bytes", "ccserver_tailwriter_repaired_bytes_total", C,
   "copy bytes rewritten or cut to match the source (compare on overlap, repairs)"},
  {"tailwriter", "copy_changed", "ccserver_tailwriter_copies_changed_total", C,
   "copies found changed behind the writer's back (size, a block's digest, deleted)"},
  {"tailwriter", "diverged", "ccserver_tailwriter_diverged_fragments_total", C,
   "fragments whose overlap with the copy differed from it"},
  {"tailwriter", "sources_denied", "ccserver_tailwriter_sources_denied_total", C,
   "fragments and questions refused because another source writes the copy"},
  {"tailwriter", "written_inline", "ccserver_tailwriter_written_inline_fragments_total", C,
   "fragments of a data connection (up to 256 KiB, the worker idle and not "
   "syncing) written by the I/O loop itself, without waking a worker"},
  {"tailwriter", "host_denied", "ccserver_tailwriter_host_denied_total", C,
   "fragments and questions whose hostname the sender's CURVE key may not "
   "write: not taken, answered 'denied'"},
  {"tailwriter", "write_errors", "ccserver_tailwriter_write_errors_total", C,
   "failed opens, writes and syncs of copies (nothing acknowledged for them)"},
  {"tailwriter", "failing", "ccserver_tailwriter_failing_copies", G,
   "copies whose last open, write or sync failed"},
  {"tailwriter", "copy_written_bytes", "ccserver_tailwriter_copy_written_bytes_total", C,
   "bytes appended to this copy by this process", "host, file"},
  {"tailwriter", "copy_last_write_age_ms", "ccserver_tailwriter_copy_last_write_age_seconds", G,
   "seconds since bytes were last appended to this copy", "host, file", ms},
  {"tailwriter", "copy_write_errors", "ccserver_tailwriter_copy_write_errors_total", C,
   "failed opens, writes and syncs of this copy", "host, file"},

  // -- info files (infosender daemon, infowriter handler) -------------------
  {"infosender", "files_sent", "ccserver_infosender_sent_files_total", C,
   "info files sent (resends included)"},
  {"infosender", "bytes_read", "ccserver_infosender_read_bytes_total", C,
   "bytes read from info files"},
  {"infosender", "bytes_sent", "ccserver_infosender_sent_bytes_total", C,
   "bytes sent (resends included)"},
  {"infosender", "acked", "ccserver_infosender_acked_files_total", C,
   "info files a writer acknowledged"},
  {"infosender", "resends", "ccserver_infosender_resends_total", C,
   "info files sent again (no ack in time, an error answer)"},
  {"infosender", "changed_while_read", "ccserver_infosender_changed_while_read_total", C,
   "reads thrown away because the file changed meanwhile (read again)"},
  {"infosender", "too_large", "ccserver_infosender_too_large_files_total", C,
   "files over max-file-bytes: not sent"},
  {"infosender", "read_errors", "ccserver_infosender_read_errors_total", C,
   "info files that could not be read"},
  {"infosender", "send_errors", "ccserver_infosender_send_errors_total", C,
   "sends the router refused (retried)"},
  {"infosender", "refused", "ccserver_infosender_refused_files_total", C,
   "files a writer refused: not sent again"},
  {"infosender", "write_errors", "ccserver_infosender_write_errors_total", C,
   "error answers from the writer (it could not write the file; sent again)"},
  {"infosender", "denied", "ccserver_infosender_denied_files_total", C,
   "'denied' answers from the writer (this server's key may not write the "
   "host it claims; sent again)"},
  {"infosender", "stale_acks", "ccserver_infosender_stale_acks_total", C,
   "acks for a version no longer current: ignored"},
  {"infosender", "forgotten", "ccserver_infosender_forgotten_files_total", C,
   "files no longer there, forgotten"},
  {"infosender", "pending", "ccserver_infosender_pending_files", G,
   "files changed and not yet sent"},
  {"infosender", "in_flight", "ccserver_infosender_in_flight_files", G,
   "files sent and not yet acknowledged"},
  {"infowriter", "files", "ccserver_infowriter_files_total", C,
   "info files received"},
  {"infowriter", "written", "ccserver_infowriter_written_files_total", C,
   "info files written (replaced atomically)"},
  {"infowriter", "bytes_written", "ccserver_infowriter_written_bytes_total", C,
   "bytes of the info files written"},
  {"infowriter", "skipped", "ccserver_infowriter_skipped_files_total", C,
   "info files not written: the copy already had that version"},
  {"infowriter", "refused", "ccserver_infowriter_refused_files_total", C,
   "info files refused (paths, sizes, corrupt data, not a regular file)"},
  {"infowriter", "errors", "ccserver_infowriter_errors_total", C,
   "I/O errors writing info files (the sender is told to try again)"},
  {"infowriter", "invalid", "ccserver_infowriter_invalid_messages_total", C,
   "messages that did not parse: dropped"},
  {"infowriter", "too_many_files", "ccserver_infowriter_too_many_files_total", C,
   "info files refused by the per-host bound"},
  {"infowriter", "backups", "ccserver_infowriter_backups_total", C,
   "previous versions kept (bakext)"},
  {"infowriter", "acks_sent", "ccserver_infowriter_acks_sent_total", C,
   "infofile.ack messages sent"},
  {"infowriter", "host_denied", "ccserver_infowriter_host_denied_total", C,
   "info files whose hostname the sender's CURVE key may not write: not "
   "written, answered 'denied'"},

  // -- jobmgr -------------------------------------------------------------
  {"jobmgr", "starts", "ccserver_jobmgr_daemon_starts_total", C,
   "daemon starts (first starts and restarts)"},
  {"jobmgr", "restarts", "ccserver_jobmgr_daemon_restarts_total", C,
   "daemon restarts after a failure"},
  {"jobmgr", "failures", "ccserver_jobmgr_daemon_failures_total", C,
   "daemons that ended with an error or could not start"},
  {"jobmgr", "daemons", "ccserver_jobmgr_daemons", G,
   "daemons this jobmgr supervises"},
  {"jobmgr", "running", "ccserver_jobmgr_running_daemons", G,
   "of those, running now"},
  {"jobmgr", "daemon_running", "ccserver_jobmgr_daemon_running", G,
   "1 while this daemon runs; 0 while it waits for a restart (or could not "
   "be started)", "daemon"},

  // -- locallogger, echo --------------------------------------------------
  {"locallogger", "received", "ccserver_locallogger_received_messages_total", C,
   "messages routed to the locallogger"},
  {"locallogger", "logged", "ccserver_locallogger_logged_messages_total", C,
   "log.* messages written to this server's log"},
  {"locallogger", "non_log", "ccserver_locallogger_non_log_messages_total", C,
   "other messages (logged as non-log msg)"},
  {"locallogger", "malformed", "ccserver_locallogger_malformed_messages_total", C,
   "log.* messages with a body that did not parse"},
  {"echo", "requests", "ccserver_echo_requests_total", C,
   "echo.requests answered"},
  {"echo", "malformed", "ccserver_echo_malformed_messages_total", C,
   "echo.requests with a body that did not parse"},
  {"echo", "other", "ccserver_echo_other_messages_total", C,
   "messages of other types routed to echo: dropped"},
};

const std::vector<server_metric> server_catalog{
  {"ccserver_build_info", G, "version",
   "always 1; the version of the running binary in the label"},
  {"ccserver_start_time_seconds", G, "",
   "when the server started (epoch seconds)"},
  {"ccserver_part_up", G, "part, kind",
   "1 while the actor of a part (router, gateway, a handler or daemon "
   "section) runs, 0 after it ended"},
  {"ccserver_healthy", G, "",
   "1 when /health would answer 200, else 0"},
  {"ccserver_health_problems", G, "",
   "problems /health lists (0 when healthy)"},
  {"ccserver_loop_disk_waits_total", C, "",
   "durable .save writes or waits for one made by a job the I/O loop's thread ran "
   "(an inotify-woken tailer's look, base/loop_jobs): 0 unless a look that should "
   "have left the loop for a worker did not"},
  {"process_cpu_seconds_total", C, "",
   "user and system CPU time of the process (not in metrics-file)"},
  {"process_resident_memory_bytes", G, "", "resident set size (not in metrics-file)"},
  {"process_virtual_memory_bytes", G, "", "virtual memory size (not in metrics-file)"},
  {"process_open_fds", G, "", "open file descriptors (not in metrics-file)"},
  {"process_max_fds", G, "", "the descriptor limit (not in metrics-file)"},
  {"process_threads", G, "", "threads of the process (not in metrics-file)"},
  {"process_start_time_seconds", G, "",
   "process start time, epoch seconds (not in metrics-file)"},
};
// clang-format on

} // namespace

const std::vector<metric_spec>& metric_catalog() {
  return catalog;
}

std::string_view metric_spec::bare_label() const {
  if (key_labels.empty() || key_labels.find(',') != std::string_view::npos)
    return "file";
  return key_labels;
}

std::string_view fixed_labels(std::string_view kind) {
  if (kind == "router" || kind == "gateway" || kind == "caf-listen")
    return "";
  if (kind == "proxy")
    return "section, peer";
  return "section";
}

std::string metrics_markdown() {
  std::string out;
  std::string_view kind;
  auto row = [&](std::string_view name, metric_type type, std::string labels,
                 std::string_view help) {
    out += "| `" + std::string{name} + "` | "
           + (type == metric_type::counter ? "counter" : "gauge") + " | "
           + (labels.empty() ? "" : labels) + " | " + std::string{help} + " |\n";
  };
  for (const auto& m : catalog) {
    if (m.kind != kind) {
      kind = m.kind;
      out += "\n**" + std::string{kind} + "** (subsystem `" + subsystem_of(kind) + "`";
      auto fixed = fixed_labels(kind);
      out += fixed.empty() ? std::string{", no labels of its own"}
                           : ", labels " + std::string{fixed};
      out += ")\n\n| metric | type | more labels | meaning |\n|---|---|---|---|\n";
    }
    row(m.name, m.type, std::string{m.key_labels}, m.help);
  }
  out += "\n**the server and the process** (also in metrics-file, except "
         "`process_*`)\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n";
  for (const auto& m : server_catalog)
    row(m.name, m.type, std::string{m.labels}, m.help);
  return out;
}

const std::vector<server_metric>& server_metrics() {
  return server_catalog;
}

const metric_spec* find_metric(std::string_view kind, std::string_view key) {
  for (const auto& m : catalog)
    if (m.kind == kind && m.key == key)
      return &m;
  return nullptr;
}

} // namespace cc
