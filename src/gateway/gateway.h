// hakone gateway: a reverse proxy that records one audit event per request.
#pragma once
