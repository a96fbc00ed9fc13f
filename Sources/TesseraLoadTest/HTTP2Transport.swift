import CNghttp2
import Foundation

/// HTTP/2 over cleartext (prior knowledge, as gateways in front of inference servers speak it) through libnghttp2:
/// every request is a stream on one connection. When the server ends the connection (GOAWAY, a reset), the requests on
/// it fail and the next request opens a new one.
public final class HTTP2Transport: Transport, @unchecked Sendable {
    private let base: BaseURL
    private let lock = NSLock()
    private var connection: HTTP2Connection?

    public init(base: BaseURL) { self.base = base }

    public func send(_ spec: HTTPRequestSpec) async throws -> HTTPStreamingResponse {
        let (live, dead) = lock.withLock { () -> (HTTP2Connection, HTTP2Connection?) in
            if let c = connection, c.isUsable { return (c, nil) }
            let old = connection
            connection = HTTP2Connection(base: base)
            return (connection!, old)
        }
        if let dead { Task { await dead.shutdown() } }
        return try await live.send(spec)
    }

    public func shutdown() async {
        await lock.withLock { connection }?.shutdown()
    }
}

/// One connection. One thread owns the socket and the nghttp2 session; requests and cancellations reach it through a
/// locked queue and a pipe, and answers leave it through continuations.
final class HTTP2Connection: @unchecked Sendable {
    private let base: BaseURL
    private let lock = NSLock()
    private var queued: [StreamState] = []
    private var cancelled: [StreamState] = []
    private var closing = false
    private var fatal: String?
    /// A pipe whose write end other threads poke to wake the connection thread.
    private let wake: Int32
    private let wakeWriter: Int32
    private let stopped = DispatchSemaphore(value: 0)
    // Touched only by the connection thread.
    private var session: OpaquePointer?
    private var socket: Int32 = -1
    private var streams: [Int32: StreamState] = [:]
    private var output: [UInt8] = []

    init(base: BaseURL) {
        self.base = base
        var ends: [Int32] = [-1, -1]
        _ = pipe(&ends)
        for fd in ends { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        (wake, wakeWriter) = (ends[0], ends[1])
        let thread = Thread { [self] in
            run()
            stopped.signal()
        }
        thread.name = "tessera-loadtest-h2"
        thread.start()
    }

    var isUsable: Bool { lock.withLock { fatal == nil && !closing } }

    func send(_ spec: HTTPRequestSpec) async throws -> HTTPStreamingResponse {
        let state = StreamState(spec)
        state.body.onTermination = { [weak self, weak state] reason in
            if case .cancelled = reason, let self, let state { self.enqueue(cancel: state) }
        }
        let status: Int = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (head: CheckedContinuation<Int, any Error>) in
                lock.withLock {
                    if let fatal {
                        head.resume(throwing: LoadTestError(fatal))
                    } else {
                        state.head = head
                        queued.append(state)
                    }
                }
                signal()
            }
        } onCancel: {
            enqueue(cancel: state)
        }
        let iterator = IteratorBox(state.stream.makeAsyncIterator())
        return HTTPStreamingResponse(status: status) { try await iterator.next() }
    }

    func shutdown() async {
        // Once only: the pipe is closed at the end.
        let first = lock.withLock { defer { closing = true }; return !closing }
        guard first else { return }
        signal()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { self.stopped.wait(); done.resume() }
        }
        close(wake)
        close(wakeWriter)
    }

    private func enqueue(cancel state: StreamState) {
        lock.withLock { cancelled.append(state) }
        signal()
    }

    private func signal() {
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
    }

    // MARK: the connection thread

    private func run() {
        do {
            socket = try Self.connect(host: base.host, port: base.port)
            try startSession()
            try loop()
        } catch {
            let message = "HTTP/2 connection to \(base.origin): \(error)"
            lock.withLock { fatal = message }
            failAll(LoadTestError(message))
        }
        if let session { nghttp2_session_del(session) }
        if socket >= 0 { close(socket) }
    }

    private func startSession() throws(LoadTestError) {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, namelen, value, valuelen, _, user in
            guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), let name, let value,
                  let state = HTTP2Connection.state(user, frame.pointee.hd.stream_id) else { return 0 }
            if namelen == 7, String(decoding: UnsafeBufferPointer(start: name, count: 7), as: UTF8.self) == ":status" {
                state.status = Int(String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)) ?? 0
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  let state = HTTP2Connection.state(user, frame.pointee.hd.stream_id), state.status >= 200 else { return 0 }
            state.resumeHead()
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            guard let data, let state = HTTP2Connection.state(user, streamID) else { return 0 }
            state.body.yield(Array(UnsafeBufferPointer(start: data, count: length)))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, code, user in
            guard let user else { return 0 }
            let me = Unmanaged<HTTP2Connection>.fromOpaque(user).takeUnretainedValue()
            guard let state = me.streams.removeValue(forKey: streamID) else { return 0 }
            if code == 0 && state.status >= 200 {
                state.resumeHead()
                state.body.finish()
            } else {
                state.fail(LoadTestError(code == 0 ? "stream ended without a response" : "stream reset by the server (HTTP/2 error \(code))"))
            }
            return 0
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_client_new(&session, callbacks, me) == 0 else { throw LoadTestError("nghttp2_session_client_new failed") }
        // Big windows: a streamed completion must never wait for the client's flow control.
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: 4096),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: 1 << 24),
        ]
        guard nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0,
              nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, 1 << 28) == 0 else {
            throw LoadTestError("cannot send the HTTP/2 settings")
        }
    }

    private static func state(_ user: UnsafeMutableRawPointer?, _ id: Int32) -> StreamState? {
        guard let user else { return nil }
        return Unmanaged<HTTP2Connection>.fromOpaque(user).takeUnretainedValue().streams[id]
    }

    private func loop() throws(LoadTestError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let (newStreams, cancels, done) = lock.withLock {
                defer { queued.removeAll(); cancelled.removeAll() }
                return (queued, cancelled, closing)
            }
            for s in newStreams { submit(s) }
            for s in cancels {
                if let id = s.id, streams[id] != nil { nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue) }
            }
            if done {
                failAll(LoadTestError("the load test is shutting down"))
                return
            }
            try flush()
            if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && output.isEmpty {
                throw LoadTestError("the server closed the session (GOAWAY)")
            }
            var fds = [pollfd(fd: socket, events: Int16(POLLIN) | (output.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
                       pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { throw LoadTestError("poll: \(String(cString: strerror(errno)))") }
            if fds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while read(wake, &drain, drain.count) > 0 {}
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = recv(socket, &buffer, buffer.count, 0)
                if n == 0 { throw LoadTestError("the server closed the connection") }
                if n < 0 && errno != EAGAIN && errno != EINTR { throw LoadTestError("recv: \(String(cString: strerror(errno)))") }
                if n > 0 {
                    let used = nghttp2_session_mem_recv(session, buffer, n)
                    if used < 0 { throw LoadTestError("HTTP/2 protocol error: \(String(cString: nghttp2_strerror(Int32(used))))") }
                }
            }
        }
    }

    private func submit(_ state: StreamState) {
        let spec = state.spec
        var fields: [(String, String)] = [(":method", spec.method), (":scheme", "http"),
                                          (":authority", "\(base.host):\(base.port)"), (":path", base.pathPrefix + spec.path)]
        fields += spec.headers.map { ($0.0.lowercased(), $0.1) }
        if !spec.body.isEmpty { fields.append(("content-length", String(spec.body.count))) }
        // nghttp2 copies names and values during the call, so these buffers may go when it returns.
        let storage = fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        let names = storage.map { n in UnsafeMutablePointer<UInt8>.allocate(capacity: max(n.0.count, 1)) }
        let values = storage.map { n in UnsafeMutablePointer<UInt8>.allocate(capacity: max(n.1.count, 1)) }
        defer { names.forEach { $0.deallocate() }; values.forEach { $0.deallocate() } }
        var nva = [nghttp2_nv]()
        for (i, (n, v)) in storage.enumerated() {
            names[i].initialize(from: n, count: n.count)
            values[i].initialize(from: v, count: v.count)
            nva.append(nghttp2_nv(name: names[i], value: values[i], namelen: n.count, valuelen: v.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { session, streamID, buf, length, flags, _, _ in
            guard let state = nghttp2_session_get_stream_user_data(session, streamID).map({ Unmanaged<StreamState>.fromOpaque($0).takeUnretainedValue() }),
                  let buf, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            let n = min(length, state.spec.body.count - state.sent)
            state.spec.body.withUnsafeBufferPointer { buf.update(from: $0.baseAddress! + state.sent, count: n) }
            state.sent += n
            if state.sent == state.spec.body.count { flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) }
            return n
        }
        let user = Unmanaged.passUnretained(state).toOpaque()
        let id = spec.body.isEmpty
            ? nghttp2_submit_request(session, nil, nva, nva.count, nil, user)
            : nghttp2_submit_request(session, nil, nva, nva.count, &provider, user)
        guard id > 0 else {
            state.fail(LoadTestError("cannot open an HTTP/2 stream: \(String(cString: nghttp2_strerror(id)))"))
            return
        }
        state.id = id
        streams[id] = state
    }

    private func flush() throws(LoadTestError) {
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { throw LoadTestError("HTTP/2 send error: \(String(cString: nghttp2_strerror(Int32(n))))") }
            guard n > 0, let data else { break }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        while !output.isEmpty {
            let n = output.withUnsafeBytes { Foundation.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                throw LoadTestError("send: \(String(cString: strerror(errno)))")
            }
            output.removeFirst(n)
        }
    }

    private func failAll(_ error: LoadTestError) {
        let waiting = lock.withLock { defer { queued.removeAll() }; return queued }
        for s in waiting + Array(streams.values) { s.fail(error) }
        streams.removeAll()
    }

    private static func connect(host: String, port: Int) throws(LoadTestError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw LoadTestError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var a: UnsafeMutablePointer<addrinfo>? = first
        while let info = a {
            a = info.pointee.ai_next
            let fd = Foundation.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            if Foundation.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                return fd
            }
            lastError = String(cString: strerror(errno))
            close(fd)
        }
        throw LoadTestError("cannot connect to \(host):\(port): \(lastError)")
    }

    /// One request's life on the connection.
    final class StreamState: @unchecked Sendable {
        let spec: HTTPRequestSpec
        let stream: AsyncThrowingStream<[UInt8], any Error>
        let body: AsyncThrowingStream<[UInt8], any Error>.Continuation
        var head: CheckedContinuation<Int, any Error>?
        var id: Int32?
        var status = 0
        var sent = 0

        init(_ spec: HTTPRequestSpec) {
            self.spec = spec
            (stream, body) = AsyncThrowingStream.makeStream()
        }

        func resumeHead() {
            head?.resume(returning: status)
            head = nil
        }

        func fail(_ error: any Error) {
            head?.resume(throwing: error)
            head = nil
            body.finish(throwing: error)
        }
    }
}
