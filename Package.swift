// swift-tools-version:6.0
import PackageDescription

// Arrows point one way: StorefrontCommand → Shop → (HTTPServer, MySQL) → CMySQL.
let package = Package(
    name: "Storefront",
    products: [
        .executable(name: "storefront", targets: ["StorefrontCommand"]),
    ],
    targets: [
        .target(name: "JSON"),
        .target(name: "CLinux"),
        .systemLibrary(
            name: "CMySQL",
            pkgConfig: "mysqlclient",
            providers: [.apt(["default-libmysqlclient-dev"])]
        ),
        .target(name: "MySQL", dependencies: ["CMySQL"]),
        .target(name: "Shop", dependencies: ["CLinux", "HTTPServer", "JSON", "MySQL"]),
        .target(name: "HTTPServer", dependencies: ["CLinux", "JSON"]),
        .executableTarget(
            name: "StorefrontCommand",
            dependencies: ["HTTPServer", "JSON", "MySQL", "Shop"]
        ),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "MySQLTests", dependencies: ["MySQL"]),
        .testTarget(name: "ShopTests", dependencies: ["Shop", "HTTPServer", "JSON"]),
    ],
    swiftLanguageModes: [.v6]
)
