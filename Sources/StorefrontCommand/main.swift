import Glibc
import HTTPServer

let version = "0.1.0"

let usage = """
    storefront \(version): the Storefront API server.

    Usage:
      storefront [serve]                  serve the API (the default); migrates first unless MIGRATE_ON_START=false
      storefront migrate [--wait S]       apply database migrations, then exit; with --wait, give an unreachable database S seconds
      storefront seed                     load the demo catalog if there are no products yet
      storefront seed --products N        REPLACE the catalog (and all carts and orders) with N generated products
      storefront healthcheck [--url URL]  GET URL (default http://<HOST, or 127.0.0.1 for any address>:$PORT/healthz); exit 0 on 2xx, else 1; 2 for a bad URL
      storefront --version                print the version
      storefront --help                   print this help

    Settings come from the environment only:

    """

var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first.map { $0.hasPrefix("-") ? "" : $0 } ?? ""
if !command.isEmpty { arguments.removeFirst() }

if arguments.contains("--help") || arguments.contains("-h") || command == "help" {
    print(usage + Settings.helpText)
    exit(0)
}
if arguments.contains("--version") || command == "version" {
    print("storefront \(version)")
    exit(0)
}

// Each command's options, all of which take a value. Anything else stops here, so
// that a typo such as `seed --product 10` is not run as plain `seed`.
let commandOptions: [String: Set<String>] = ["serve": [], "migrate": ["--wait"], "seed": ["--products"], "healthcheck": ["--url"]]
var options: [String: String] = [:]
let commandName = command.isEmpty ? "serve" : command
if let allowed = commandOptions[commandName] {
    var rest = arguments[...]
    while let option = rest.popFirst() {
        guard allowed.contains(option) else {
            printError("storefront \(commandName): unknown argument \"\(option)\"; try storefront --help")
            exit(2)
        }
        guard let value = rest.popFirst() else {
            printError("storefront \(commandName): \(option) needs a value; try storefront --help")
            exit(2)
        }
        options[option] = value
    }
}

let settings: Settings
do {
    var environment: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let eq = text.firstIndex(of: "=") { environment[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
        pointer += 1
    }
    settings = try Settings.load(from: environment)
} catch {
    printError("storefront: \(error)")
    exit(2)
}

let logger = Logger(level: settings.logLevel, format: settings.logFormat)
/// Exits once every log line is out. `_exit`, not `exit`: exit runs the libraries'
/// atexit clean-ups (OpenSSL frees its locks and tables) while the readiness and
/// housekeeping threads, not joined (Housekeeping.stop), may be inside a TLS call,
/// and `serve` then died of SIGSEGV after a clean shutdown.
func finish(_ code: Int32) -> Never {
    logger.flush()
    fflush(nil)
    _exit(code)
}
switch command {
case "", "serve":
    finish(Serve.run(settings, logger: logger))
case "migrate":
    finish(DatabaseCommands.migrate(settings, wait: options["--wait"], logger: logger))
case "seed":
    finish(DatabaseCommands.seed(settings, products: options["--products"], logger: logger))
case "healthcheck":
    exit(HealthCheck.run(url: options["--url"] ?? HealthCheck.defaultURL(settings)))
default:
    printError("storefront: unknown command \"\(command)\"; try storefront --help")
    exit(2)
}
