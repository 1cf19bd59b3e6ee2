namespace LlavaModal.Server.OpenAi;

/// <summary>An error a client gets in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with an HTTP status.</summary>
sealed class OpenAiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, "invalid_request_error", param, code);
}
