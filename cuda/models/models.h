// models.h — one factory per supported `general.architecture`, each defined in its own file
// (models/<arch>.cpp); the registry in core/architecture.cpp lists them.
#pragma once

#include <memory>

#include "core/architecture.h"

namespace wc {

std::unique_ptr<Architecture> make_llama(const GgufFile &file, Backend &backend);
std::unique_ptr<Architecture> make_qwen2(const GgufFile &file, Backend &backend);
std::unique_ptr<Architecture> make_qwen3(const GgufFile &file, Backend &backend);
std::unique_ptr<Architecture> make_phi3(const GgufFile &file, Backend &backend);
std::unique_ptr<Architecture> make_gemma3(const GgufFile &file, Backend &backend);

}  // namespace wc
