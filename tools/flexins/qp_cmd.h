// `flexins qp list | show | set`: look at and change live QPs' transport
// policies (engine/qp_admin.h serves them).
#pragma once

#include <string>
#include <vector>

namespace flexins::cli {

int cmd_qp_list(const std::string& ip, bool json);
int cmd_qp_show(const std::string& ip, uint32_t qpn, bool json);
// target: a QPN or "all"; settings: "cc=NAME", "key=value", ...
int cmd_qp_set(const std::string& ip, const std::string& target, const std::vector<std::string>& settings);

}  // namespace flexins::cli
