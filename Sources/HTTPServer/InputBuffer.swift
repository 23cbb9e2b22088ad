import CLinux
import Glibc

/// Bytes read from a socket and not yet consumed. read(2) writes straight into
/// its free tail; consumed bytes are dropped by moving the start, and the
/// storage is compacted or grown only when the tail runs short.
final class InputBuffer {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private let idleCapacity: Int
    private var start = 0
    private var end = 0

    /// The room an idle connection keeps for its first read.
    static let firstReadRoom = 4096

    init(capacity: Int = InputBuffer.firstReadRoom) {
        self.capacity = capacity
        idleCapacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    var count: Int { end - start }
    /// Room held beyond what an idle connection keeps.
    var grownBytes: Int { capacity - idleCapacity }
    var isEmpty: Bool { start == end }

    var unconsumed: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: storage + start, count: end - start) }

    func consume(_ n: Int) {
        start += n
        if start == end { start = 0; end = 0 }
    }

    /// Reads once from `fd` into free space, making at least `minimumFree` bytes room first.
    /// Returns what read(2) returned and how much room it was offered: a read
    /// that filled the room says nothing about whether more is waiting.
    func read(from fd: Int32, minimumFree: Int = 4096) -> (count: Int, offered: Int) {
        if capacity - end < minimumFree {
            if start > 0 {
                memmove(storage, storage + start, end - start)
                end -= start
                start = 0
            }
            if capacity - end < minimumFree {
                let newCapacity = max(capacity * 2, end + minimumFree)
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
                bigger.update(from: storage, count: end)
                storage.deallocate()
                storage = bigger
                capacity = newCapacity
            }
        }
        let offered = capacity - end
        let n = Glibc.read(fd, storage + end, offered)
        if n > 0 { end += n }
        return (n, offered)
    }

    /// Gives back a grown buffer once it is empty: thousands of idle keep-alive
    /// connections must not each keep the room their largest request needed.
    func shrinkIfIdle() {
        guard isEmpty, capacity > idleCapacity else { return }
        storage.deallocate()
        capacity = idleCapacity
        storage = .allocate(capacity: capacity)
    }
}
