// Renders a chat template with llama.cpp's own Jinja engine (common/jinja, the engine behind
// `llama-server --jinja`), for the chat-template reference dumps of parity/dump_chat_templates.py.
//   render_chat_template TEMPLATE_FILE < context.json > rendered.txt
// The context is the JSON object of template globals (messages, bos_token, eos_token,
// add_generation_prompt, ...). Exit 1 with the engine's message on stderr when rendering fails
// (templates raise for unsupported roles).
// Built by parity/build-chat-renderer.sh against the pinned llama-cpp-python sdist's sources.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "jinja/lexer.h"
#include "jinja/parser.h"
#include "jinja/runtime.h"
#include "json.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: render_chat_template TEMPLATE_FILE < context.json\n";
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    if (!file) {
        std::cerr << "cannot read " << argv[1] << "\n";
        return 2;
    }
    const std::string source((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    try {
        jinja::lexer lexer;
        const jinja::program prog = jinja::parse_from_tokens(lexer.tokenize(source));
        jinja::context ctx(source);
        jinja::global_from_json(ctx, common_json::parse(input), /*mark_input=*/false);
        jinja::runtime runtime(ctx);
        const jinja::value results = runtime.execute(prog);
        std::cout << jinja::runtime::gather_string_parts(results)->as_string().str();
    } catch (const std::exception &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
