// Full-screen quad: the fragment shader derives everything from gl_FragCoord, like the web component.
// No #version line: depthstudio.render.shader_source prepends the one for each target (GLSL 3.30 core, GLSL ES 3.00).

layout(location = 0) in vec2 a_position;

void main() {
    gl_Position = vec4(a_position, 0.0, 1.0);
}
