/// The exchanges, queues and bindings declared through a connection, in declaration order,
/// so that recovery can declare them again on a new connection.
struct DeclaredTopology {
    private(set) var exchanges: [ExchangeSpec] = []
    private(set) var queues: [QueueSpec] = []
    private(set) var bindings: [BindingSpec] = []

    mutating func record(_ e: ExchangeSpec) {
        if let i = exchanges.firstIndex(where: { $0.name == e.name }) { exchanges[i] = e } else { exchanges.append(e) }
    }

    mutating func record(_ q: QueueSpec) {
        guard !q.name.isEmpty else { return }  // server-named queues get a new name anyway
        if let i = queues.firstIndex(where: { $0.name == q.name }) { queues[i] = q } else { queues.append(q) }
    }

    mutating func record(_ b: BindingSpec) {
        if !bindings.contains(b) { bindings.append(b) }
    }

    mutating func forget(binding b: BindingSpec) { bindings.removeAll { $0 == b } }

    mutating func forget(queue name: String) {
        queues.removeAll { $0.name == name }
        bindings.removeAll { $0.queue == name }
    }

    mutating func forget(exchange name: String) {
        exchanges.removeAll { $0.name == name }
        bindings.removeAll { $0.exchange == name }
    }
}
