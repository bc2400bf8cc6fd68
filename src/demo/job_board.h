// A small job-board web site for the demo's crawler: its pages are built into the binary and
// served locally, so the demo crawls something real without the network.
//
//   GET /robots.txt            allows everything but /admin/, names the sitemap
//   GET /sitemap.xml           the posting pages
//   GET /  /jobs?page=N        listing pages linking to the postings (and one dead link)
//   GET /jobs/{id}             a posting with schema.org JobPosting JSON-LD (id 1..JobBoardPostingCount();
//                              one of them lacks its description, one is closed: 410)
//   GET /companies/{slug}      a company page
#pragma once

#include <memory>
#include <string>

#include "core/component.h"
#include "core/runtime.h"

namespace hakone::demo {

int JobBoardPostingCount();

// Serves the job board on `listen` ("127.0.0.1:9010") once started. InvalidArgument for a bad address.
Result<std::unique_ptr<Component>> MakeJobBoard(Runtime& rt, const std::string& listen);

}  // namespace hakone::demo
