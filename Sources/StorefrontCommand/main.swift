import HTTPServer

let router = Router()
router.get("/healthz", .inline) { _ in .json(["status": "ok"]) }
var configuration = HTTPServer.Configuration()
let server = try HTTPServer(configuration: configuration, router: router)
server.handleSignals()
server.run()
