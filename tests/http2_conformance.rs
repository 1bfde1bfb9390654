//! RFC 9113 (HTTP/2) and RFC 7541 (HPACK), section by section, against the real server: the
//! Python `h2` stack's frame and header-block codecs drive `tests/http2/h2frames.py`, which
//! sends exact frame sequences (valid and broken) on fresh connections and reports what the
//! server did: a connection error (GOAWAY and its code), a stream error (RST_STREAM and its
//! code), a response, or nothing (the connection still answers a PING). Each MUST is one row,
//! with the answer the RFC requires, over TLS (ALPN h2) and with prior knowledge on a plain
//! address.

mod support;

use support::h2::{h2_server, python_h2, scenarios};
use support::tls::cert;

/// (RFC section, scenario, the verdict the section requires).
const TABLE: &[(&str, &str, &str)] = &[
    // §3.4: the connection preface.
    ("9113 3.4", "preface_invalid", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 3.4",
        "preface_without_settings",
        "GOAWAY PROTOCOL_ERROR",
    ),
    // §4.1, §5.5: unknown types and flags ignored; the reserved bit ignored.
    ("9113 5.5", "unknown_frame_type_is_ignored", "alive"),
    ("9113 4.1", "unknown_flags_are_ignored", "alive"),
    ("9113 4.1", "reserved_bit_is_ignored", ":status 200+body=6"),
    // §4.2: frame size.
    (
        "9113 4.2",
        "data_over_max_frame_size",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    (
        "9113 4.2",
        "headers_over_max_frame_size",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    // §4.3: a header block that cannot be decompressed.
    (
        "9113 4.3",
        "invalid_header_block",
        "GOAWAY COMPRESSION_ERROR",
    ),
    // §5.1: stream states.
    (
        "9113 5.1 idle",
        "data_on_idle_stream",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 5.1 idle",
        "rst_stream_on_idle_stream",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 5.1 idle",
        "window_update_on_idle_stream",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 5.1 half-closed (remote)",
        "data_on_half_closed_remote",
        "RST_STREAM STREAM_CLOSED",
    ),
    (
        "9113 5.1 half-closed (remote)",
        "headers_on_half_closed_remote",
        "RST_STREAM STREAM_CLOSED",
    ),
    (
        "9113 5.1 closed",
        "data_on_closed_stream",
        "GOAWAY STREAM_CLOSED",
    ),
    (
        "9113 5.1 closed",
        "headers_on_closed_stream",
        "GOAWAY STREAM_CLOSED",
    ),
    (
        "9113 5.1 closed (reset by the client)",
        "frames_after_rst_stream_from_the_client",
        "RST_STREAM STREAM_CLOSED",
    ),
    (
        "9113 5.1 closed",
        "priority_on_closed_stream_is_allowed",
        "alive",
    ),
    ("9113 5.1.1", "even_stream_id", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 5.1.1",
        "stream_id_lower_than_the_last",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 5.1.2",
        "streams_past_the_concurrency_limit_are_refused",
        "limit=128 RST_STREAM REFUSED_STREAM",
    ),
    // §5.3.1: a stream cannot depend on itself.
    (
        "9113 5.3.1",
        "headers_depending_on_itself",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 5.3.1",
        "priority_depending_on_itself",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    // §6.1 DATA.
    ("9113 6.1", "data_on_stream_0", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.1",
        "data_with_too_much_padding",
        "GOAWAY PROTOCOL_ERROR",
    ),
    // §6.2 HEADERS.
    ("9113 6.2", "headers_on_stream_0", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.2",
        "headers_with_too_much_padding",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.2",
        "headers_padded_and_prioritised_are_served",
        ":status 200+body=6",
    ),
    // §6.3 PRIORITY.
    ("9113 6.3", "priority_on_stream_0", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.3",
        "priority_of_wrong_length",
        "RST_STREAM FRAME_SIZE_ERROR",
    ),
    // §6.4 RST_STREAM.
    (
        "9113 6.4",
        "rst_stream_on_stream_0",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.4",
        "rst_stream_of_wrong_length",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    // §6.5 SETTINGS.
    (
        "9113 6.5",
        "settings_ack_with_payload",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    ("9113 6.5", "settings_on_a_stream", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.5",
        "settings_of_wrong_length",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    (
        "9113 6.5.2",
        "settings_enable_push_2",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.5.2",
        "settings_initial_window_too_large",
        "GOAWAY FLOW_CONTROL_ERROR",
    ),
    (
        "9113 6.5.2",
        "settings_max_frame_size_too_small",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.5.2",
        "settings_max_frame_size_too_large",
        "GOAWAY PROTOCOL_ERROR",
    ),
    ("9113 6.5.2", "settings_unknown_is_ignored", "alive"),
    ("9113 6.5.3", "settings_are_acknowledged", "SETTINGS ACK"),
    // §6.7 PING.
    (
        "9113 6.7",
        "ping_is_answered_with_the_same_payload",
        "PING ACK",
    ),
    ("9113 6.7", "ping_ack_is_not_answered", "alive"),
    ("9113 6.7", "ping_on_a_stream", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.7",
        "ping_of_wrong_length",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    // §6.8 GOAWAY.
    ("9113 6.8", "goaway_on_a_stream", "GOAWAY PROTOCOL_ERROR"),
    (
        "9113 6.8",
        "goaway_from_the_client_keeps_the_connection_answering",
        "alive",
    ),
    // §6.9 WINDOW_UPDATE and flow control.
    (
        "9113 6.9",
        "window_update_of_0_on_the_connection",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.9",
        "window_update_of_0_on_a_stream",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 6.9",
        "window_update_of_wrong_length",
        "GOAWAY FRAME_SIZE_ERROR",
    ),
    (
        "9113 6.9.1",
        "connection_window_overflow",
        "GOAWAY FLOW_CONTROL_ERROR",
    ),
    (
        "9113 6.9.1",
        "stream_window_overflow",
        "RST_STREAM FLOW_CONTROL_ERROR",
    ),
    (
        "9113 6.9.2",
        "initial_window_change_overflowing_a_stream",
        "GOAWAY FLOW_CONTROL_ERROR",
    ),
    (
        "9113 6.9.1",
        "a_window_of_1_octet_still_delivers_the_whole_body",
        "body=6 in frames of 1",
    ),
    (
        "9113 6.9.2",
        "a_negative_window_waits_until_it_is_positive",
        ":status 200+body=6",
    ),
    // §6.10 CONTINUATION.
    (
        "9113 6.10",
        "continuation_after_end_headers",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.10",
        "frame_interleaved_in_a_header_block",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.10",
        "continuation_on_another_stream",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.10",
        "continuation_on_stream_0",
        "GOAWAY PROTOCOL_ERROR",
    ),
    (
        "9113 6.10",
        "headers_split_over_continuations_are_served",
        ":status 200+body=6",
    ),
    // §8.1: messages.
    (
        "9113 8.1.1",
        "content_length_larger_than_the_data",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 8.1.1",
        "content_length_smaller_than_the_data",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 8.1",
        "trailers_without_end_stream",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    // POST to a file is not allowed there: the answer proves the trailers were taken.
    ("9113 8.1", "trailers_are_accepted", ":status 405+body=1219"),
    (
        "9113 8.1",
        "pseudo_header_in_trailers",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    // §8.2: fields.
    (
        "9113 8.2",
        "uppercase_field_name",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 8.2.2",
        "connection_specific_field",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 8.2.2",
        "te_other_than_trailers",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    ("9113 8.2.2", "te_trailers_is_allowed", ":status 200+body=6"),
    (
        "9113 8.2.1",
        "field_value_with_a_newline",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    // §8.3: pseudo-header fields.
    ("9113 8.3.1", "missing_method", "RST_STREAM PROTOCOL_ERROR"),
    ("9113 8.3.1", "missing_scheme", "RST_STREAM PROTOCOL_ERROR"),
    ("9113 8.3.1", "missing_path", "RST_STREAM PROTOCOL_ERROR"),
    ("9113 8.3.1", "empty_path", "RST_STREAM PROTOCOL_ERROR"),
    (
        "9113 8.3.1",
        "path_not_absolute",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    ("9113 8.3", "duplicate_method", "RST_STREAM PROTOCOL_ERROR"),
    (
        "9113 8.3",
        "pseudo_after_regular",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    ("9113 8.3", "unknown_pseudo", "RST_STREAM PROTOCOL_ERROR"),
    (
        "9113 8.3",
        "status_in_a_request",
        "RST_STREAM PROTOCOL_ERROR",
    ),
    (
        "9113 8.3.1",
        "host_field_instead_of_authority",
        ":status 200+body=6",
    ),
    ("9113 8.5", "connect_is_not_served", ":status 501+body=1230"),
    ("9110 9.1", "unknown_method_is_501", ":status 501+body=1230"),
    // RFC 7541.
    (
        "7541 2.3.3, 6.1",
        "hpack_index_0",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 2.3.3",
        "hpack_index_past_the_tables",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 4.2, 6.3",
        "hpack_table_size_update_above_the_limit",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 4.2",
        "hpack_table_size_update_after_a_field",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 5.2",
        "hpack_huffman_with_eos",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 5.2",
        "hpack_huffman_padding_not_ones",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 5.2",
        "hpack_huffman_padding_over_7_bits",
        "GOAWAY COMPRESSION_ERROR",
    ),
    (
        "7541 2.3, 4",
        "hpack_static_and_dynamic_table_references_are_served",
        ":status 200+body=6 then :status 200+body=6",
    ),
    (
        "7541 4.2",
        "hpack_table_size_0_then_requests",
        ":status 200+body=6",
    ),
    // Answers.
    ("9113 8.1", "get_index", ":status 200+body=6"),
    ("9110 9.3.2", "head_index", ":status 200"),
    ("9110 15.5.5", "missing_file", ":status 404+body=1204"),
];

fn check_table(tls: bool) {
    if !python_h2() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = h2_server(
        &cert,
        "    error_page 404 /missing.html;",
        &[
            ("www/index.html", b"hello\n"),
            ("www/missing.html", &[b'm'; 1204]),
            // Larger than the connection window: a stream for it stays open.
            ("www/big.bin", &[b'b'; 200_000]),
        ],
    );
    let addr = if tls {
        server.addrs[0]
    } else {
        server.addrs[1]
    };
    let names: Vec<&str> = TABLE.iter().map(|(_, name, _)| *name).collect();
    let got = scenarios(addr, tls, &names);
    let mut wrong = Vec::new();
    for ((section, name, expected), (ran, verdict)) in TABLE.iter().zip(&got) {
        assert_eq!(name, ran);
        if verdict != expected {
            wrong.push(format!(
                "RFC {section}: {name}: expected {expected}, got {verdict}"
            ));
        }
    }
    assert_eq!(got.len(), TABLE.len(), "{got:?}");
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // No connection error above ever cost the server its other connections.
    let again = scenarios(addr, tls, &["get_index"]);
    assert_eq!(again[0].1, ":status 200+body=6");
}

#[test]
fn every_rfc_9113_and_7541_rule_gets_its_answer_over_tls() {
    check_table(true);
}

#[test]
fn every_rfc_9113_and_7541_rule_gets_its_answer_with_prior_knowledge() {
    check_table(false);
}
