// `hakone demo`: everything on one machine. For now: the sample app behind the gateway, a
// little traffic, and how to ask the operation log. It grows as components land.
#pragma once

namespace hakone::demo {

int RunDemo(int argc, char** argv);

}  // namespace hakone::demo
