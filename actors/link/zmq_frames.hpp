// Moving one multipart message between a cc_message and a ZeroMQ socket
// without copying blob bytes, and reading a socket monitor's events: the
// frame-level helpers of zmq_socket_loop (called on the loop thread).
//
// A blob frame to send is given to ZeroMQ with zmq_msg_init_data and a free
// function that holds the message's blob_ptr; a received frame kept as a
// blob stays in its zmq_msg_t, which the blob owns (wire::blob::external)
// and closes when its last handle goes.
#pragma once

#include <cstdint>
#include <string>

#include <zmq.h>

#include "wire/message.hpp"

namespace cc::zmq_detail {

/// The received frame `part` as a blob, its bytes left where ZeroMQ put
/// them: the message moves into a heap-held zmq_msg_t that the blob closes.
/// `part` is left empty (closing it is still required, and cheap).
wire::blob_ptr keep_frame(zmq_msg_t& part);

enum class send_result { sent, would_block, unroutable, failed };

/// Hands one multipart message to ZeroMQ without blocking; `err` is the
/// errno of a failure.
send_result send_one(void* sock, const wire::cc_message& msg, int& err);

/// One monitor event: frame 1 is a 16-bit event and a 32-bit value, frame 2
/// the peer address. False when none is waiting.
bool read_monitor_event(void* monitor, uint16_t& event, uint32_t& value,
                        std::string& peer);

} // namespace cc::zmq_detail
