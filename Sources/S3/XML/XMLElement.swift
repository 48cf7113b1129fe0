import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A minimal element tree for S3's small XML answers (namespaces ignored).
package final class S3XMLElement {
    package let name: String
    package var text = ""
    package var children: [S3XMLElement] = []

    init(name: String) { self.name = name }

    package func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }
    package func all(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }
    package func string(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; `nil` when it is not well-formed XML.
    package static func parse(_ data: [UInt8]) -> S3XMLElement? {
        let delegate = Builder()
        let parser = XMLParser(data: Data(data))
        parser.shouldProcessNamespaces = true
        parser.delegate = delegate
        guard parser.parse() else { return nil }
        return delegate.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [S3XMLElement] = []
        var root: S3XMLElement?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            let element = S3XMLElement(name: elementName)
            stack.last?.children.append(element)
            if root == nil { root = element }
            stack.append(element)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?) {
            _ = stack.popLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
}
