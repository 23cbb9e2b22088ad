import CMySQL

/// A server-side prepared statement (binary protocol). Parameters are bound,
/// never spliced into the SQL; result buffers are sized from the stored
/// result's actual maximum lengths, so a LONGTEXT column costs what its data
/// costs and nothing is truncated.
final class MySQLStatement {
    let sql: String
    private let stmt: UnsafeMutablePointer<MYSQL_STMT>
    let parameterCount: Int
    /// When the connection last ran it, for its least-recently-used cache.
    var lastUse: UInt64 = 0
    /// The output binds last given to the library, which keeps pointers into them until
    /// they are replaced or the statement is closed: Oracle's libmysqlclient writes each
    /// fixed-size column's length through them again at the next execute.
    private var boundColumns: ResultColumns?

    init(connection: UnsafeMutablePointer<MYSQL>, sql: String) throws(MySQLError) {
        guard let stmt = mysql_stmt_init(connection) else { throw MySQLError.from(connection) }
        self.stmt = stmt
        self.sql = sql
        let rc = sql.withCString { mysql_stmt_prepare(stmt, $0, UInt(strlen($0))) }
        guard rc == 0 else {
            let error = MySQLError.from(stmt)
            _ = cmysql_stmt_close(stmt)
            throw error
        }
        parameterCount = Int(mysql_stmt_param_count(stmt))
        _ = cmysql_stmt_update_max_length(stmt)
    }

    deinit {
        _ = cmysql_stmt_close(stmt)
        boundColumns?.free()
    }

    func execute(_ parameters: [MySQLValue]) throws(MySQLError) -> MySQLResult {
        precondition(parameters.count == parameterCount, "\(sql) takes \(parameterCount) parameters, got \(parameters.count)")
        let binds = ParameterBinds(parameters)
        defer { binds.free() }
        if parameterCount > 0 {
            guard cmysql_stmt_bind_param(stmt, binds.binds) == 0 else { throw MySQLError.from(stmt) }
        }
        guard mysql_stmt_execute(stmt) == 0 else { throw MySQLError.from(stmt) }
        defer { _ = cmysql_stmt_free_result(stmt) }

        var result = MySQLResult()
        if mysql_stmt_field_count(stmt) > 0 {
            do throws(MySQLError) {
                guard mysql_stmt_store_result(stmt) == 0 else { throw MySQLError.from(stmt) }
                result.rows = try fetchRows()
            } catch {
                // An error inside the result set (a lock-wait timeout or deadlock while
                // the rows are read) leaves MariaDB Connector/C waiting for the rest of
                // it: the next execute would block until the read timeout. A reset
                // (COM_STMT_RESET) puts the statement back; if even that fails, the
                // connection is not to be trusted.
                guard cmysql_stmt_reset(stmt) == 0 else {
                    throw MySQLError(number: 2013, sqlState: "HY000", message: "\(error.message); resetting the statement then failed: \(MySQLError.from(stmt).message)")
                }
                throw error
            }
        }
        result.affectedRows = mysql_stmt_affected_rows(stmt)
        result.lastInsertID = mysql_stmt_insert_id(stmt)
        return result
    }

    private func fetchRows() throws(MySQLError) -> [MySQLRow] {
        // Metadata read after store_result, so max_length reflects this result.
        guard let metadata = mysql_stmt_result_metadata(stmt) else { throw MySQLError.from(stmt) }
        defer { mysql_free_result(metadata) }
        let count = Int(mysql_num_fields(metadata))
        let fields = mysql_fetch_fields(metadata)!
        let columns = ResultColumns(fields: fields, count: count)
        // Both libraries copy the binds before they check them, so from here on the
        // statement points at these, whether or not the call succeeds.
        let rc = cmysql_stmt_bind_result(stmt, columns.binds)
        boundColumns?.free()
        boundColumns = columns
        guard rc == 0 else { throw MySQLError.from(stmt) }

        let names = MySQLColumns((0..<count).map { String(cString: fields[$0].name) })
        var rows: [MySQLRow] = []
        rows.reserveCapacity(Int(mysql_stmt_num_rows(stmt)))
        while true {
            let rc = mysql_stmt_fetch(stmt)
            if rc == MYSQL_NO_DATA { break }
            if rc == 1 { throw MySQLError.from(stmt) }
            if rc == MYSQL_DATA_TRUNCATED {
                throw MySQLError(number: 0, sqlState: "HY000", message: "a result column was truncated (buffer sizing bug) in: \(sql)")
            }
            rows.append(MySQLRow(columns: names, values: (0..<count).map { columns.value(at: $0) }))
        }
        return rows
    }
}

/// Input binds and the memory they point at, alive for one execution.
private struct ParameterBinds {
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let states: UnsafeMutablePointer<cmysql_bind_state>
    private var buffers: [UnsafeMutableRawPointer] = []
    private let count: Int

    init(_ values: [MySQLValue]) {
        count = values.count
        binds = .allocate(capacity: max(count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(count, 1))
        states = .allocate(capacity: max(count, 1))
        states.initialize(repeating: cmysql_bind_state(), count: max(count, 1))
        for (i, value) in values.enumerated() {
            cmysql_bind_attach(&binds[i], &states[i])
            switch value {
            case .null:
                binds[i].buffer_type = MYSQL_TYPE_NULL
            case .int(let v):
                bindScalar(i, v, MYSQL_TYPE_LONGLONG)
            case .uint(let v):
                bindScalar(i, v, MYSQL_TYPE_LONGLONG)
                cmysql_bind_set_unsigned(&binds[i], 1)
            case .double(let v):
                bindScalar(i, v, MYSQL_TYPE_DOUBLE)
            case .string(let s):
                bindBytes(i, Array(s.utf8), MYSQL_TYPE_STRING)
            case .bytes(let b):
                bindBytes(i, b, MYSQL_TYPE_BLOB)
            case .date(let d):
                var t = MYSQL_TIME()
                t.year = UInt32(d.year); t.month = UInt32(d.month); t.day = UInt32(d.day)
                t.hour = UInt32(d.hour); t.minute = UInt32(d.minute); t.second = UInt32(d.second)
                t.second_part = UInt(d.microsecond)
                t.time_type = MYSQL_TIMESTAMP_DATETIME
                bindScalar(i, t, MYSQL_TYPE_DATETIME)
            }
        }
    }

    private mutating func bindScalar<T>(_ i: Int, _ value: T, _ type: enum_field_types) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        buffer.storeBytes(of: value, as: T.self)
        buffers.append(buffer)
        binds[i].buffer_type = type
        binds[i].buffer = buffer
        binds[i].buffer_length = UInt(MemoryLayout<T>.size)
        // Oracle's libmysqlclient reserves `*length` bytes of its packet before it writes a
        // time (for a number it uses the number's size): with 0, a time could overrun the packet.
        states[i].length = binds[i].buffer_length
    }

    private mutating func bindBytes(_ i: Int, _ bytes: [UInt8], _ type: enum_field_types) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        buffers.append(buffer)
        binds[i].buffer_type = type
        binds[i].buffer = buffer
        binds[i].buffer_length = UInt(bytes.count)
        states[i].length = UInt(bytes.count)
    }

    func free() {
        for buffer in buffers { buffer.deallocate() }
        binds.deallocate()
        states.deallocate()
    }
}

/// Output binds, one buffer per column sized from the field's type and max_length.
private struct ResultColumns {
    enum Kind { case integer(unsigned: Bool), double, time, text, binary }

    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let states: UnsafeMutablePointer<cmysql_bind_state>
    let kinds: [Kind]
    let count: Int

    init(fields: UnsafeMutablePointer<MYSQL_FIELD>, count: Int) {
        self.count = count
        binds = .allocate(capacity: max(count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(count, 1))
        states = .allocate(capacity: max(count, 1))
        states.initialize(repeating: cmysql_bind_state(), count: max(count, 1))
        var kinds: [Kind] = []
        for i in 0..<count {
            let field = fields[i]
            let kind: Kind
            let size: Int
            switch field.type {
            case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_INT24, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_YEAR:
                kind = .integer(unsigned: cmysql_field_is_unsigned(&fields[i]) != 0)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                cmysql_bind_set_unsigned(&binds[i], cmysql_field_is_unsigned(&fields[i]))
                size = 8
            case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
                kind = .double
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
                size = 8
            case MYSQL_TYPE_DATE, MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP:
                kind = .time
                binds[i].buffer_type = field.type
                size = MemoryLayout<MYSQL_TIME>.size
            default:
                // Text, blobs, DECIMAL (as text, exact), JSON, ENUM, TIME: bytes sized to the data.
                let binary = cmysql_field_is_binary(&fields[i]) != 0 && field.type != MYSQL_TYPE_NEWDECIMAL && field.type != MYSQL_TYPE_DECIMAL
                kind = binary ? .binary : .text
                binds[i].buffer_type = binary ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING
                size = max(Int(field.max_length), 1)
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            binds[i].buffer = buffer
            binds[i].buffer_length = UInt(size)
            cmysql_bind_attach(&binds[i], &states[i])
            kinds.append(kind)
        }
        self.kinds = kinds
    }

    func value(at i: Int) -> MySQLValue {
        if cmysql_state_is_null(&states[i]) != 0 { return .null }
        let buffer = binds[i].buffer!
        switch kinds[i] {
        case .integer(let unsigned):
            if unsigned {
                let v = buffer.load(as: UInt64.self)
                return v <= UInt64(Int64.max) ? .int(Int64(v)) : .uint(v)
            }
            return .int(buffer.load(as: Int64.self))
        case .double:
            return .double(buffer.load(as: Double.self))
        case .time:
            let t = buffer.load(as: MYSQL_TIME.self)
            return .date(MySQLDateTime(year: Int(t.year), month: Int(t.month), day: Int(t.day), hour: Int(t.hour),
                                       minute: Int(t.minute), second: Int(t.second), microsecond: Int(t.second_part)))
        case .text:
            let length = Int(states[i].length)
            return .string(String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self))
        case .binary:
            let length = Int(states[i].length)
            return .bytes(Array(UnsafeRawBufferPointer(start: buffer, count: length)))
        }
    }

    func free() {
        for i in 0..<count { binds[i].buffer.deallocate() }
        binds.deallocate()
        states.deallocate()
    }
}
